"""A minimal fake of W&B's GraphQL API on 127.0.0.1, for what `wandb.Api` and `wandb_workspaces` reports ask.

W&B's server can't be run in the tests, and the tests never reach the internet: this answers, by the
operation found in each posted query, just what saving a `wandb_workspaces` report sends (wandb 0.31,
wandb-workspaces 0.4.13, through the wandb-core service):

- `viewer`: who the API key belongs to; wandb-core asks it to verify the key of each `wandb.Api()`, and
  `wandb_workspaces` makes a new `wandb.Api()` for each of its requests.
- `project(...) { internalId }` (ProjectInternalId): each runset of the report looks its project up.
- `models(...)` (GetProjects): `Report.save()` lists the entity's projects, to create the report's project
  where it's missing; it's listed, so no project is created.
- `upsertView`: the report itself. Without an id, it's a new view with the next of `new_ids`; with the id of a
  view it holds, that view is updated; with any other id, W&B's GraphQL error for a view it doesn't have.

Anything else is answered with a GraphQL error and noted in `unknown`, so a test fails fast and says what
was asked. Other posts (wandb-core's telemetry to `/sdk/otel/...`) get an empty 200.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeWandbApi"]

_CREATED = "2024-01-01T00:00:00"


class FakeWandbApi:
    """W&B's GraphQL API, faked: `url` is its base URL (`WANDB_BASE_URL`); use it as a context manager.

    Attributes:
        upserts: The variables of each `upsertView` it was sent, in order (`spec` as sent, a JSON string).
        views: The reports it holds, by id: the variables of their last upsert; delete one to delete it in "W&B".
        unknown: The queries it couldn't answer.
    """

    def __init__(self, entity: str = "team", projects: Iterable[str] = ("uncategorized",)) -> None:
        self.entity = entity
        self.projects = list(projects)
        self.upserts: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.unknown: list[str] = []
        self.update_error: str | None = None  # set: every update of a view fails with this message
        self.new_ids = (f"VmlldzoxMDA{n}" for n in itertools.count(1))  # "View:100n", base64-ish like W&B's
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))  # port 0: a free one
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeWandbApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def answer(self, query: str, variables: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
        """The `data` and `errors` of the GraphQL response to `query`."""
        with self._lock:
            if "upsertView" in query:
                return self._upsert_view(variables)
            if "viewer" in query:
                return {"viewer": self._user()}, []
            if "internalId" in query:
                known = variables.get("projectName") in self.projects
                return {"project": {"id": "UHJvamVjdDox", "internalId": "1"} if known else None}, []
            if "models(" in query:
                return {"models": {"pageInfo": {"endCursor": None, "hasNextPage": False},
                                   "edges": [{"node": self._project(name)} for name in self.projects]}}, []
            self.unknown.append(query)
            return None, [{"message": "the fake W&B API has no answer to this query"}]

    def _upsert_view(self, variables: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
        self.upserts.append(dict(variables))
        view_id = variables.get("id")
        if view_id and self.update_error:
            return None, [{"message": self.update_error, "path": ["upsertView"]}]
        if view_id and view_id not in self.views:
            return None, [{"message": "view not found", "path": ["upsertView"]}]
        inserted = not view_id
        view_id = view_id or next(self.new_ids)
        self.views[view_id] = dict(variables)
        view = {
            "id": view_id, "type": variables.get("type") or "runs", "name": variables.get("name") or "",
            "displayName": variables.get("displayName") or "", "description": variables.get("description") or "",
            "project": {"id": "UHJvamVjdDox", "name": variables.get("projectName"),
                        "entityName": variables.get("entityName")},
            "spec": variables["spec"], "updatedAt": _CREATED,
        }
        return {"upsertView": {"view": view, "inserted": inserted}}, []

    def _user(self) -> dict[str, Any]:
        return {"id": "VXNlcjox", "name": "Test User", "username": self.entity, "email": None, "admin": False,
                "flags": "{}", "entity": self.entity, "deletedAt": None, "apiKeys": None,
                "teams": {"edges": []}}

    def _project(self, name: str) -> dict[str, Any]:
        return {"__typename": "Project", "id": "UHJvamVjdDox", "name": name, "entityName": self.entity,
                "createdAt": _CREATED, "isBenchmark": False, "user": None}


def _handler(api: FakeWandbApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/graphql":
                self._send(200, b"")
                return
            if not self.headers.get("Authorization"):  # wandb-core sends the API key on every query
                self._send(401, json.dumps({"errors": [{"message": "no API key"}]}).encode())
                return
            request = json.loads(body)
            data, errors = api.answer(request.get("query", ""), request.get("variables") or {})
            self._send(200, json.dumps({"data": data, **({"errors": errors} if errors else {})}).encode())

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler
