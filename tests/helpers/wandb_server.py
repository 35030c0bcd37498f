"""A W&B server double on 127.0.0.1: what wandb 0.31's client sends over a run's life, answered and recorded.

The tests never reach the internet and W&B's server can't be run in them: `WandbServer` answers, with the
standard library's HTTP server, what the real `wandb` (its Go service, wandb-core) and `wandb_workspaces`
send, and records it per run, artifact and report; its faults (401, 5xx for a while, latency, a stall, a
killed socket) are set while it runs, to see what the real client makes of them.

What wandb-core sent (wandb 0.31.0, learned by pointing it at this double with `trace` on; the GraphQL
operations are named, in `operationName` and the query, by wandb-core; wandb's Python side and
wandb_workspaces send a few of their own, some anonymous):

1. `wandb.init`: `UpsertBucket` with the run id as `name`, `project`, `entity` null (the answer's
   `bucket.project.entity.name` tells it the entity: no `Viewer` is asked), `groupName`, `displayName`,
   `jobType`, `tags`, `host`, `program` and `config` as a JSON string in W&B's form
   `{"key": {"value": v}, "_wandb": {"value": {...}}}`. `wandb.init` returns once it's answered; a 401
   raises `wandb.errors.CommError` with the server's message at once, a refused connection or no answer
   raises it after `init_timeout` (5xx answers are retried until then).
   Then `OrganizationCoreWeaveOrganizationID` (answered: no organization), sometimes `ServerFeaturesQuery`
   (answered: no features), and a first post of the file stream with `wandb-events.jsonl` (system metrics).
2. While it runs: `UpsertBucket` again with the entity and the config with its metadata (the project,
   entity and run id only otherwise, no group or tags: a later upsert changes only what it names);
   `CreateRunFiles` for `wandb-metadata.json`, `requirements.txt`, answered with upload URLs on this double
   (`/upload/run/<entity>/<project>/<run id>/<name>`) which get PUT; and every ~15 s a post to
   `/files/<entity>/<project>/<run id>/file_stream`: `{"files": {name: {"offset": n, "content": [lines]}},
   "uploaded": [names]}`, where `wandb-history.jsonl` holds one JSON line per `run.log` step (offsets count
   lines: a resend is idempotent), `wandb-summary.json` the whole summary as one line (`define_metric`'s
   summaries as `{"min": v}`), `output.log` the console lines, prefixed with their time.
3. `run.finish(exit_code=...)`: one more `UpsertBucket` (the config), `CreateRunFiles` for `config.yaml`,
   `wandb-summary.json`, `output.log` (PUT), then the last file-stream post with the rest of the history and
   the summary, `"complete": true, "exitcode": n`. `finish` returned only after that post was answered in
   every run seen (so the records are whole when it returns; `wait_run` polls, for a client that doesn't
   wait). With `wandb.Settings(finish_timeout=s)` it gives up after s seconds on a stalled or killed
   server, the run left "running" here; `wandb sync --include-online <run dir>` uploads it later, whole.
4. `run.log_artifact(artifact, aliases=[...])`: `Viewer` and `ArtifactType` (the Python side, asking the
   type of `name:latest`: none when new), `CreateArtifact` (`input`: `artifactCollectionName`,
   `artifactTypeName`, `digest`, `aliases` with "latest" added, `entityName`, `projectName`, `runName`, ...),
   `CreateArtifactManifest` (`includeUpload` false), `CreateArtifactFiles` (`input.artifactFiles`: `name`,
   `md5`, ...; answered with upload URLs here, PUT), `CreateArtifactManifest` again with the digest and
   `includeUpload` true (the manifest PUT to its upload URL), `CommitArtifact`.
5. Always, in the background: wandb-core's telemetry to `/sdk/otel/v1/metrics` and `/sdk/otel/v1/logs`
   (protobuf; answered with an empty 200).

`wandb_workspaces` saving a report (through `wandb.Api()`, one per request): `Viewer` (to verify the key),
`project(...) { internalId }` for each runset, `models(...)` (the entity's projects: a missing one would
be created), `upsertView` (no id: a new view; the id of one it holds: updated; any other id: W&B's error).
`wandb.Api()` reads: `GetDefaultEntity`, `Runs` (`api.runs(path, filters)`, filters of equal fields only)
and `Run` (`api.run(path)`).

Anything else posted to `/graphql` gets a GraphQL error and is noted in `unknown`, so a test fails fast and
says what was asked. Posts elsewhere get an empty 200.

Faults, set while it runs: `unauthorized()` (401 to everything), `fail(status, seconds)`, `latency`
(seconds), `stall()` (connections accepted, never answered), `kill()` (the listening socket and every
connection closed) and `restart()` (the same port), `heal()`; `closed_port_url()` names a port nothing
listens on.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["ArtifactRecord", "ReportRecord", "Request", "RunRecord", "WandbServer", "closed_port_url"]

_CREATED = "2024-01-01T00:00:00"


def closed_port_url() -> str:
    """The URL of a local port nothing listens on: a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _gid(kind: str, n: int | str) -> str:
    """A GraphQL id in W&B's form: base64 of 'Kind:n'."""
    return base64.b64encode(f"{kind}:{n}".encode()).decode()


@dataclass
class Request:
    """One request the double was sent: `operation` is the GraphQL operation's name (None off `/graphql`)."""

    method: str
    path: str
    operation: str | None = None
    status: int | None = None  # what it was answered; None: not answered (a stall, a kill)


@dataclass
class RunRecord:
    """One run, as the double holds it.

    Attributes:
        id: The run's id (W&B's run "name" in its API).
        name: Its display name; `group`, `job_type`, `tags`, `notes` as `wandb.init` gave them.
        config: As the user gave it: W&B's `{"key": {"value": v}}` form decoded, its own `_wandb` key left out
            (in `wandb_config`).
        summary: The last summary the file stream sent (`wandb-summary.json`), wandb's `_` keys included.
        history_lines: The lines of `wandb-history.jsonl` parsed, by line number (see `history`).
        output_lines: The console's lines (`output.log`), by line number (see `output`).
        files: The files uploaded to the run, by name.
        state: "running" from its first upsert, then "finished" (exit code 0) or "failed" once the file
            stream says it's complete.
    """

    id: str
    entity: str
    project: str
    storage_id: str
    name: str | None = None
    group: str | None = None
    job_type: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    wandb_config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history_lines: dict[int, dict[str, Any]] = field(default_factory=dict)
    output_lines: dict[int, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    state: str = "running"
    exit_code: int | None = None
    upserts: int = 0

    @property
    def history(self) -> list[dict[str, Any]]:
        """The history rows in order, one per step logged."""
        return [self.history_lines[i] for i in sorted(self.history_lines)]

    @property
    def output(self) -> list[str]:
        """The console's lines in order."""
        return [self.output_lines[i] for i in sorted(self.output_lines)]


@dataclass
class ArtifactRecord:
    """One artifact version, as the double holds it: `files` by their path in the artifact."""

    id: str
    name: str
    type: str
    entity: str
    project: str
    run_id: str | None
    digest: str
    aliases: list[str] = field(default_factory=list)
    version: int = 0
    state: str = "PENDING"
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    used_by: list[str] = field(default_factory=list)


@dataclass
class ReportRecord:
    """One report (a W&B view), as its last `upsertView` left it: `spec` parsed, with its panels and runsets."""

    id: str
    title: str
    entity: str | None
    project: str | None
    spec: dict[str, Any]

    @property
    def panels(self) -> list[dict[str, Any]]:
        """The panels of every panel grid, in order."""
        return [panel for block in self._grids() for panel in block["metadata"]["panelBankSectionConfig"]["panels"]]

    @property
    def runsets(self) -> list[dict[str, Any]]:
        """The runsets of every panel grid, in order."""
        return [runset for block in self._grids() for runset in block["metadata"].get("runSets", [])]

    def _grids(self) -> list[dict[str, Any]]:
        return [block for block in self.spec.get("blocks", []) if block.get("type") == "panel-grid"]


class WandbServer:
    """W&B's server, doubled: `url` is its base URL (`WANDB_BASE_URL`); start it, or use it as a context manager.

    Attributes:
        requests: Every request it was sent, in order (see `count`).
        runs: The runs it holds, by run id.
        artifacts: The artifact versions it holds, by id (see `artifact`).
        views: The reports it holds, by id: the variables of their last `upsertView`; delete one to delete
            it in "W&B".
        upserts: The variables of each `upsertView`, in order (`spec` as sent, a JSON string).
        unknown: The GraphQL queries it had no answer to.
        update_error: Set, every update of an existing view fails with this message.
        latency: Seconds each request waits before it's answered.
        uploads: Every PUT to an upload URL it handed out, by path.
        trace: None, or a list it appends every request's method, path and body to (to learn what's sent).
    """

    def __init__(self, entity: str = "team", projects: Iterable[str] = ("uncategorized",)) -> None:
        self.entity = entity
        self._projects = list(projects)
        self._lock = threading.RLock()
        self._healed = threading.Event()
        self._healed.set()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self.trace: list[tuple[str, str, bytes]] | None = None  # a list: every request's method, path, body
        self.reset()

    # -- life ---------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> WandbServer:
        """Listens (on a free port the first time, on the same port after `kill`) and answers in a thread."""
        server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler(self))
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def kill(self) -> None:
        """Closes the listening socket and every open connection: connections are refused until `restart`."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        assert self._thread is not None
        self._thread.join()
        self._release_connections()

    def restart(self) -> None:
        """Listens again on the same port, after `kill`."""
        if self._server is None:
            self.start()

    def close(self) -> None:
        """Heals and stops it for good."""
        self._healed.set()
        self.kill()

    def __enter__(self) -> WandbServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Forgets every record and heals every fault; listening again if it was killed."""
        with self._lock:
            self.projects = list(self._projects)  # the entity's projects, as listed (runs add theirs)
            self.requests: list[Request] = []
            self.runs: dict[str, RunRecord] = {}
            self.artifacts: dict[str, ArtifactRecord] = {}
            self.views: dict[str, dict[str, Any]] = {}
            self.upserts: list[dict[str, Any]] = []
            self.unknown: list[str] = []
            self.update_error: str | None = None
            self.uploads: dict[str, bytes] = {}  # every PUT to an upload URL, by its path
            self._ids = itertools.count(1)
            self._new_view_ids = (f"VmlldzoxMDA{n}" for n in itertools.count(1))  # "View:100n", base64-ish
        self.heal()
        if self._thread is not None:
            self.restart()

    # -- faults -------------------------------------------------------------------------------------------------

    def heal(self) -> None:
        """No fault from now on: normal answers, no latency; stalled requests are answered."""
        with self._lock:
            self._status: int | None = None
            self._status_until = 0.0
            self.latency = 0.0
        self._healed.set()

    def unauthorized(self) -> None:
        """Every request answered 401, until healed."""
        self.fail(401, seconds=None)

    def fail(self, status: int = 500, seconds: float | None = 30.0) -> None:
        """Every request answered `status` for `seconds` (None: until healed), then normally."""
        with self._lock:
            self._status = status
            self._status_until = float("inf") if seconds is None else time.monotonic() + seconds

    def stall(self) -> None:
        """Connections accepted, and no request answered until healed (or closed)."""
        self._healed.clear()

    @property
    def stalled(self) -> bool:
        return not self._healed.is_set()

    def _fault_status(self) -> int | None:
        with self._lock:
            if self._status is not None and time.monotonic() < self._status_until:
                return self._status
            return None

    def _log(self, method: str, path: str, body: bytes) -> None:
        if self.trace is not None:
            self.trace.append((method, path, body))

    def _release_connections(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    # -- reading what it holds ----------------------------------------------------------------------------------

    def count(self, operation: str) -> int:
        """How many requests named the GraphQL `operation` (e.g. "UpsertBucket")."""
        with self._lock:
            return sum(r.operation == operation for r in self.requests)

    def operations(self) -> list[str]:
        """The GraphQL operations it was sent, in order."""
        with self._lock:
            return [r.operation for r in self.requests if r.operation]

    def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Polls `condition` until it's truthy and returns it; raises TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"the W&B server double didn't see that within {timeout} s")
            time.sleep(0.05)

    def wait_run(self, run_id: str, timeout: float = 10.0) -> RunRecord:
        """The run once its file stream is complete (wandb-core may still send after `run.finish()` returns)."""
        return self.wait_for(lambda: (run := self.runs.get(run_id)) and run.state != "running" and run, timeout)

    @property
    def reports(self) -> dict[str, ReportRecord]:
        """The reports it holds, by id (see `views` for the variables as sent)."""
        with self._lock:
            return {
                view_id: ReportRecord(view_id, v.get("displayName") or "", v.get("entityName"),
                                      v.get("projectName"), json.loads(v["spec"]))
                for view_id, v in self.views.items()
            }

    def artifact(self, name: str, version: int | None = None) -> ArtifactRecord:
        """The artifact `name`'s latest version, or `version`."""
        with self._lock:
            found = [a for a in self.artifacts.values() if a.name == name]
        if not found:
            raise KeyError(f"no artifact {name!r} on the W&B server double")
        if version is None:
            return max(found, key=lambda a: a.version)
        return next(a for a in found if a.version == version)

    # -- GraphQL ------------------------------------------------------------------------------------------------

    def answer(self, operation: str | None, query: str, variables: dict[str, Any]) -> tuple[Any, list[dict]]:
        """The `data` and `errors` of the GraphQL response to `query`."""
        with self._lock:
            handler = getattr(self, f"_op_{operation}", None) if operation else None
            if handler is None:
                handler = self._by_content(query)
            if handler is None:
                self.unknown.append(query)
                return None, [{"message": f"the W&B server double has no answer to {operation or query[:200]!r}"}]
            return handler(variables)

    def _by_content(self, query: str) -> Callable[[dict[str, Any]], tuple[Any, list[dict]]] | None:
        """What anonymous queries (wandb's Python API, wandb_workspaces) ask, by the fields they name."""
        if "upsertView" in query:
            return self._upsert_view
        if re.search(r"\bruns\(", query):
            return self._api_runs
        if re.search(r"\brun\(name:", query) and "project(" in query:
            return self._api_run
        if "viewer" in query:
            return self._op_Viewer
        if "internalId" in query:
            return self._project_internal_id
        if "models(" in query:
            return self._models
        if "serverInfo" in query:
            return self._op_ServerFeaturesQuery
        return None

    # wandb-core's operations.

    def _op_Viewer(self, variables: dict[str, Any]) -> tuple[Any, list[dict]]:
        return {"viewer": self._user()}, []

    def _op_ServerFeaturesQuery(self, variables: dict[str, Any]) -> tuple[Any, list[dict]]:
        return {"serverInfo": {"features": []}}, []

    def _op_UpsertBucket(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        run_id = v.get("name")
        run = self.runs.get(run_id) if run_id else None
        if run is None:
            run_id = run_id or f"run{next(self._ids)}"
            run = RunRecord(id=run_id, entity=v.get("entity") or self.entity,
                            project=v.get("project") or "uncategorized", storage_id=_gid("Run", next(self._ids)))
            self.runs[run_id] = run
            inserted = True
        else:
            inserted = False
        run.upserts += 1
        if v.get("displayName") is not None:
            run.name = v["displayName"]
        if v.get("groupName") is not None:
            run.group = v["groupName"]
        if v.get("jobType") is not None:
            run.job_type = v["jobType"]
        if v.get("tags") is not None:
            run.tags = list(v["tags"])
        if v.get("notes") is not None:
            run.notes = v["notes"]
        if v.get("config") is not None:
            raw = json.loads(v["config"])
            run.wandb_config = raw.get("_wandb", {}).get("value", {})
            run.config = {k: (c.get("value") if isinstance(c, dict) else c)
                          for k, c in raw.items() if k != "_wandb"}
        if v.get("summaryMetrics") is not None:
            run.summary = json.loads(v["summaryMetrics"])
        if v.get("state") is not None:
            run.state = v["state"]
        bucket = {
            "id": run.storage_id, "name": run.id, "displayName": run.name, "description": run.notes,
            "config": json.dumps({k: {"value": c} for k, c in run.config.items()}), "sweepName": None,
            "project": {"id": _gid("Project", run.project), "name": run.project,
                        "entity": {"id": _gid("Entity", run.entity), "name": run.entity}},
            "historyLineCount": len(run.history_lines),
        }
        return {"upsertBucket": {"bucket": bucket, "inserted": inserted}}, []

    def _op_RunResumeStatus(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        """Whether the run exists (wandb.init with `resume=` asks; "never" refuses one that does)."""
        project, entity = v.get("project") or "uncategorized", v.get("entity") or self.entity
        run = self.runs.get(v["name"])
        bucket = None if run is None else {
            "id": run.storage_id, "name": run.id, "summaryMetrics": json.dumps(run.summary),
            "displayName": run.name, "logLineCount": len(run.output_lines), "historyLineCount": len(run.history_lines),
            "eventsLineCount": 0, "historyTail": "[]", "eventsTail": "[]",
            "config": json.dumps({k: {"value": c} for k, c in run.config.items()}), "tags": run.tags,
            "notes": run.notes, "wandbConfig": json.dumps({}),
        }
        return {"model": {"id": _gid("Project", project), "name": project,
                          "entity": {"id": _gid("Entity", entity), "name": entity}, "bucket": bucket}}, []

    def _op_CreateRunFiles(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        run = self.runs.get(v["run"])
        files = [{"name": name, "uploadUrl": f"{self.url}/upload/run/{v['entity']}/{v['project']}/{v['run']}/{name}"}
                 for name in v["files"]]
        return {"createRunFiles": {"runID": run.storage_id if run else _gid("Run", 0), "uploadHeaders": [],
                                   "files": files}}, []

    def _op_MarkRunFilesUploaded(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        return {"markRunFilesUploaded": {"success": True}}, []

    def _op_OrganizationCoreWeaveOrganizationID(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        return {"entity": {"organization": None}}, []  # no organization: W&B's own cloud

    def _op_FetchOrgEntityFromEntity(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        return {"entity": {"organization": None}}, []

    # Artifacts.

    def _op_ArtifactType(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        """The Python side asks the type of `name:latest` before logging it: none if it's new."""
        name = v["name"].split(":")[0]
        found = [a for a in self.artifacts.values() if a.name == name]
        artifact = {"artifactType": {"name": found[0].type}} if found else None
        return {"project": {"artifact": artifact}}, []

    def _op_CreateArtifact(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        spec = v["input"]
        name = spec["artifactCollectionName"]
        same = [a for a in self.artifacts.values() if a.name == name]
        existing = next((a for a in same if a.digest == spec["digest"]), None)
        if existing is None:
            artifact_id = _gid("Artifact", next(self._ids))
            existing = ArtifactRecord(
                id=artifact_id, name=name, type=spec["artifactTypeName"],
                entity=spec.get("entityName") or self.entity, project=spec.get("projectName") or "uncategorized",
                run_id=spec.get("runName"), digest=spec["digest"], version=len(same),
                description=spec.get("description"), metadata=json.loads(spec.get("metadata") or "{}"),
            )
            self.artifacts[artifact_id] = existing
        for alias in spec.get("aliases") or []:
            for other in same:  # an alias names one version of a collection
                if alias["alias"] in other.aliases and other is not existing:
                    other.aliases.remove(alias["alias"])
            if alias["alias"] not in existing.aliases:
                existing.aliases.append(alias["alias"])
        latest = max(same, key=lambda a: a.version) if same else None
        return {"createArtifact": {"artifact": {
            "id": existing.id, "state": existing.state,
            "artifactSequence": {"id": _gid("ArtifactSequence", name),
                                 "latestArtifact": {"id": latest.id} if latest else None},
        }}}, []

    def _manifest(self, artifact: ArtifactRecord, include_upload: bool) -> dict[str, Any]:
        file = {"id": _gid("File", f"{artifact.id}/manifest")}
        if include_upload:
            file.update(uploadUrl=f"{self.url}/upload/artifact/{artifact.id}/wandb_manifest.json", uploadHeaders=[])
        return {"id": _gid("ArtifactManifest", artifact.id), "file": file}

    def _op_CreateArtifactManifest(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        artifact = self.artifacts[v["artifactID"]]
        manifest = self._manifest(artifact, v.get("includeUpload", False))
        return {"createArtifactManifest": {"artifactManifest": manifest}}, []

    def _op_UpdateArtifactManifest(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        artifact_id = base64.b64decode(v["artifactManifestID"]).decode().split(":", 1)[1]
        manifest = self._manifest(self.artifacts[artifact_id], v.get("includeUpload", False))
        return {"updateArtifactManifest": {"artifactManifest": manifest}}, []

    def _op_CreateArtifactFiles(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        edges = []
        for spec in v["input"]["artifactFiles"]:
            storage_path = f"{spec['artifactID']}/{spec['name']}"
            edges.append({"node": {
                "storagePath": storage_path, "uploadUrl": f"{self.url}/upload/artifact/{storage_path}",
                "uploadHeaders": [], "uploadMultipartUrls": None, "artifact": {"id": spec["artifactID"]},
            }})
        return {"createArtifactFiles": {"files": {"edges": edges}}}, []

    def _op_CommitArtifact(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        artifact = self.artifacts[v["artifactID"]]
        artifact.state = "COMMITTED"
        return {"commitArtifact": {"artifact": {"id": artifact.id, "digest": artifact.digest}}}, []

    def _op_UseArtifact(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        spec = v["input"]
        artifact = self.artifacts.get(spec.get("artifactID"))
        if artifact is not None and spec.get("runName"):
            artifact.used_by.append(spec["runName"])
        return {"useArtifact": {"artifact": {"id": spec.get("artifactID")}}}, []

    # wandb_workspaces' operations (and wandb.Api's).

    def _project_internal_id(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        known = v.get("projectName") in self._project_names()
        return {"project": {"id": "UHJvamVjdDox", "internalId": "1"} if known else None}, []

    def _models(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        return {"models": {"pageInfo": {"endCursor": None, "hasNextPage": False},
                           "edges": [{"node": self._project(name)} for name in self._project_names()]}}, []

    def _project_names(self) -> list[str]:
        return list(dict.fromkeys([*self.projects, *(run.project for run in self.runs.values())]))

    def _upsert_view(self, variables: dict[str, Any]) -> tuple[Any, list[dict]]:
        self.upserts.append(dict(variables))
        view_id = variables.get("id")
        if view_id and self.update_error:
            return None, [{"message": self.update_error, "path": ["upsertView"]}]
        if view_id and view_id not in self.views:
            return None, [{"message": "view not found", "path": ["upsertView"]}]
        inserted = not view_id
        view_id = view_id or next(self._new_view_ids)
        self.views[view_id] = dict(variables)
        view = {
            "id": view_id, "type": variables.get("type") or "runs", "name": variables.get("name") or "",
            "displayName": variables.get("displayName") or "", "description": variables.get("description") or "",
            "project": {"id": "UHJvamVjdDox", "name": variables.get("projectName"),
                        "entityName": variables.get("entityName")},
            "spec": variables["spec"], "updatedAt": _CREATED,
        }
        return {"upsertView": {"view": view, "inserted": inserted}}, []

    def _api_runs(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        """`wandb.Api().runs(path, filters)`: the project's runs, filtered on equal values of their fields."""
        filters = json.loads(v.get("filters") or "{}")
        runs = [self._run_node(run) for run in self.runs.values()
                if (run.entity, run.project) == (v.get("entity"), v.get("project"))]
        runs = [node for node in runs if all(node.get(_RUN_FIELDS.get(k, k)) == want for k, want in filters.items())]
        if not runs and v.get("project") not in self._project_names():
            return {"project": None}, []
        edges = [{"node": node, "cursor": str(i)} for i, node in enumerate(runs)]
        return {"project": {"internalId": "1", "runCount": len(runs), "readOnly": False,
                            "runs": {"edges": edges, "pageInfo": {"endCursor": None, "hasNextPage": False}}}}, []

    def _api_run(self, v: dict[str, Any]) -> tuple[Any, list[dict]]:
        """`wandb.Api().run(path)`: one run, or none."""
        run = self.runs.get(v.get("name") or v.get("run") or "")
        found = run is not None and (run.entity, run.project) == (v.get("entity"), v.get("project"))
        return {"project": {"internalId": "1", "run": self._run_node(run) if found else None}}, []

    def _run_node(self, run: RunRecord) -> dict[str, Any]:
        config = {k: {"value": c, "desc": None} for k, c in run.config.items()}
        return {
            "__typename": "Run", "id": run.storage_id, "name": run.id, "displayName": run.name, "tags": run.tags,
            "state": run.state, "group": run.group, "jobType": run.job_type, "notes": run.notes,
            "description": run.notes, "sweepName": None, "commit": None, "readOnly": False, "projectId": "1",
            "createdAt": _CREATED, "heartbeatAt": _CREATED, "historyLineCount": len(run.history_lines),
            "config": json.dumps(config), "summaryMetrics": json.dumps(run.summary), "systemMetrics": "{}",
            "historyKeys": None, "user": {"name": "Test User", "username": self.entity},
            "project": {"name": run.project, "entityName": run.entity, "entity": {"name": run.entity}},
        }

    def _user(self) -> dict[str, Any]:
        return {"id": "VXNlcjox", "name": "Test User", "username": self.entity, "email": None, "admin": False,
                "flags": "{}", "entity": self.entity, "deletedAt": None, "apiKeys": None,
                "teams": {"edges": []}}

    def _project(self, name: str) -> dict[str, Any]:
        return {"__typename": "Project", "id": "UHJvamVjdDox", "name": name, "entityName": self.entity,
                "createdAt": _CREATED, "isBenchmark": False, "user": None}

    # -- the file stream and uploads ----------------------------------------------------------------------------

    def file_stream(self, entity: str, project: str, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Takes one post of a run's file stream; answers what W&B does."""
        with self._lock:
            run = self.runs.get(run_id)
            if run is None:  # streamed before its upsert arrived: keep it anyway
                run = self.runs[run_id] = RunRecord(id=run_id, entity=entity, project=project,
                                                    storage_id=_gid("Run", next(self._ids)))
            for name, chunk in (body.get("files") or {}).items():
                offset, lines = chunk.get("offset", 0), chunk.get("content", [])
                if name == "wandb-history.jsonl":
                    run.history_lines.update({offset + i: json.loads(line) for i, line in enumerate(lines)})
                elif name == "wandb-summary.json" and lines:
                    run.summary = json.loads(lines[-1])
                elif name == "output.log":
                    run.output_lines.update({offset + i: line for i, line in enumerate(lines)})
            if body.get("complete"):
                run.exit_code = body.get("exitcode")
                run.state = "finished" if run.exit_code == 0 else "failed"
        return {"exitcode": None, "limits": {}}

    def upload(self, path: str, data: bytes) -> None:
        """Takes a PUT to an upload URL it handed out."""
        with self._lock:
            self.uploads[path] = data
            kind, _, rest = path.removeprefix("/upload/").partition("/")
            if kind == "run":  # run/<entity>/<project>/<run id>/<name>
                _, _, run_id, name = rest.split("/", 3)
                if run_id in self.runs:
                    self.runs[run_id].files[name] = data
            elif kind == "artifact":  # artifact/<id>/<name>: a file, or the manifest
                artifact_id, _, name = rest.partition("/")
                artifact = self.artifacts.get(artifact_id)
                if artifact is None:
                    return
                if name == "wandb_manifest.json":
                    artifact.manifest = json.loads(data)
                else:
                    artifact.files[name] = data


# `wandb.Api().runs` filters by their MongoDB-like names: the few that are equalities on a field of the run.
_RUN_FIELDS = {"display_name": "displayName", "job_type": "jobType"}

_OPERATION = re.compile(r"^\s*(?:#.*\s*)*(?:query|mutation)\s+(\w+)")  # after any "#graphql" comment


def _operation(request: dict[str, Any]) -> str | None:
    """The GraphQL operation's name: as sent, or in the query's first line."""
    if request.get("operationName"):
        return request["operationName"]
    match = _OPERATION.match(request.get("query") or "")
    return match.group(1) if match else None


def _handler(server: WandbServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as W&B's

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server._connections.add(self.connection)

        def finish(self) -> None:
            with server._lock:
                server._connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def do_POST(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def _serve(self) -> None:
            body = self._body()
            path = unquote(urlsplit(self.path).path)
            record = Request(self.command, path)
            if path.rstrip("/") == "/graphql" and body:
                with contextlib.suppress(ValueError):
                    record.operation = _operation(json.loads(body))
            with server._lock:
                server.requests.append(record)
            server._log(self.command, path, body)
            if server.latency:
                time.sleep(server.latency)
            if not server._healed.is_set():
                server._healed.wait()
                if self.connection not in server._connections:  # killed or closed meanwhile
                    self.close_connection = True
                    return
            status = server._fault_status()
            if status is not None:
                record.status = status
                self._send(status, json.dumps({"errors": [{"message": f"the W&B server double's {status}"}]}))
                return
            record.status = 200
            if self.command == "PUT" and path.startswith("/upload/"):
                server.upload(path, body)
                self._send(200, "")
            elif path.rstrip("/") == "/graphql":
                self._graphql(body, record)
            elif path.endswith("/file_stream") and self.command == "POST":
                _, _, entity, project, run_id, _ = path.split("/", 5)
                self._send(200, json.dumps(server.file_stream(entity, project, run_id, json.loads(body))))
            else:
                self._send(200, "")

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the chunk's CRLF
            while self.rfile.readline().strip():  # trailers, up to the blank line
                pass
            return b"".join(chunks)

        def _graphql(self, body: bytes, record: Request) -> None:
            if not self.headers.get("Authorization"):  # wandb sends the API key with every query
                record.status = 401
                self._send(401, json.dumps({"errors": [{"message": "no API key"}]}))
                return
            request = json.loads(body)
            data, errors = server.answer(record.operation, request.get("query", ""), request.get("variables") or {})
            self._send(200, json.dumps({"data": data, **({"errors": errors} if errors else {})}))

        def _send(self, status: int, body: str) -> None:
            data = body.encode()
            with contextlib.suppress(OSError):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler
