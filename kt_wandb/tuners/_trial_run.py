"""One trial's W&B run: opened once, finished exactly once, recorded beside the trial."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kt_wandb._records import RUN_RECORD, write_json

__all__ = ["OnceNotice", "TrialRun", "previous_attempts"]


class OnceNotice:
    """Tells the user of W&B trouble on stderr, once per search: one line, not one per trial."""

    def __init__(self) -> None:
        self.said = False

    def __call__(self, message: str) -> None:
        if not self.said:
            self.said = True
            print(f"kt-wandb: {message}", file=sys.stderr)


def _torn_attempts(text: str) -> list[dict[str, Any]]:
    """The attempts a half-written record stands for: its first key is the last attempt's run id.

    Records are written whole (`write_json`) now; one torn by an older version, or by a disk
    failure, still tells which attempt it was (`<id>-r<n>` is attempt n), so the next attempt's
    run id is new. Before its run id, it is taken for a first attempt.
    """
    found = re.search(r'"run_id":\s*"([^"]+)"', text)
    run_id = found.group(1) if found else None
    suffix = re.search(r"-r(\d+)$", run_id or "")
    earlier = int(suffix.group(1)) if suffix else 0
    return [*({"run_id": None, "exit_code": None, "unreadable": True} for _ in range(earlier)),
            {"run_id": run_id, "exit_code": None, "unreadable": True}]


def previous_attempts(record_path: Path) -> list[dict[str, Any]]:
    """The earlier attempts at a trial, from its record; one without an exit code crashed."""
    try:
        text = record_path.read_text()
    except FileNotFoundError:
        return []
    try:
        record = json.loads(text)
    except ValueError:  # torn: a crashed attempt, and what it holds is kept for a look
        record_path.with_name(f"{record_path.name}.unreadable").write_text(text)
        return _torn_attempts(text)
    earlier = list(record.pop("previous_attempts", []))
    record.pop("history", None)  # the curves of an earlier attempt are not this one's
    record.setdefault("exit_code", None)  # None: the process died before the run could finish
    return [*earlier, record]


class TrialRun:
    """The W&B run of one attempt at a trial.

    `run` is None when W&B is disabled or could not start; the trial trains on
    and its results stay in KerasTuner's own records.
    """

    def __init__(
        self, run: Any, record_path: Path, record: dict[str, Any], notice: OnceNotice | None = None
    ) -> None:
        self.run = run
        self.notice = notice or OnceNotice()
        self.record_path = record_path
        self.record = record
        self.config: dict[str, Any] = {}
        self.sessions: list[Any] = []  # TensorBoard sessions still open
        self._started = time.monotonic()

    @classmethod
    def open(
        cls,
        init_kwargs: Mapping[str, Any],
        *,
        trial_dir: str,
        run_id: str,
        name: str,
        group: str,
        config: Mapping[str, Any],
        tags: list[str],
        summary: Mapping[str, Any],
        objective: tuple[str, str],
        worker: str | None = None,
        notice: OnceNotice | None = None,
    ) -> TrialRun:
        """Starts the run (finishing any run left open) and writes the trial's run record.

        `objective` is the objective's name and summary ("min" or "max"): its direction;
        `worker` the id of the distributed worker running the trial; `notice` what tells the
        user, once per search, that W&B failed.
        """
        import wandb

        record_path = Path(trial_dir) / RUN_RECORD
        previous = previous_attempts(record_path)
        if previous:  # an attempt that crashed, was interrupted or failed: this one is a run of its own
            run_id = f"{run_id}-r{len(previous)}"
            summary = {**summary, "trial/attempt": len(previous), "trial/previous_run": previous[-1]["run_id"]}
        kwargs = dict(init_kwargs)
        kwargs["tags"] = [*tags, *kwargs.get("tags", ())]
        kwargs.setdefault("group", group)
        os.makedirs(kwargs["dir"], exist_ok=True)
        notice = notice or OnceNotice()

        def start(mode: str | None) -> Any:
            return wandb.init(
                id=run_id, name=name, config=dict(config), reinit="finish_previous", resume="allow",
                **{**kwargs, "mode": mode},
            )

        try:
            run = start(kwargs.get("mode"))
        except Exception as exc:
            run = None
            problem = f"{type(exc).__name__}: {exc}"
            if kwargs.get("mode") == "online":  # no network, a rejected key, a timeout: keep the run offline
                try:
                    run = start("offline")
                except Exception as offline_exc:
                    problem += f"; offline too: {type(offline_exc).__name__}: {offline_exc}"
                else:
                    kwargs["mode"] = "offline"
                    where = os.path.join(kwargs["dir"], "wandb")
                    notice(
                        f"W&B could not start a run online ({problem}); this search's runs are kept offline "
                        f"in {where}. Upload them later with: wandb sync {where}/offline-run-*-{run_id.split('-')[0]}-*"
                    )
            if run is None:
                notice(
                    f"W&B could not start a run ({problem}); the search goes on and keeps its results in "
                    f"KerasTuner's records."
                )
        record: dict[str, Any] = {
            "run_id": run_id,
            "name": name,
            "group": kwargs["group"],
            "project": kwargs.get("project"),
            "entity": kwargs.get("entity"),
            "mode": kwargs.get("mode") if run is not None else "failed",
            "started": datetime.now(timezone.utc).isoformat(),
            "previous_attempts": previous,
        }
        if worker is not None:
            record["worker"] = worker
        if run is not None:
            run.define_metric(objective[0], summary=objective[1])
            run.summary.update(dict(summary))
        if run is not None and not run.disabled:
            record["run_dir"] = os.path.dirname(run.dir)
            record["path"] = run.path
            if run.settings.mode == "online":
                record["url"] = run.url
        trial_run = cls(run, record_path, record, notice)
        trial_run.config = dict(config)
        trial_run._write_record()
        return trial_run

    def finish(self, summary: Mapping[str, Any], *, exit_code: int) -> None:
        """Writes the summary, finishes the run with `exit_code` and records it."""
        self.record["exit_code"] = exit_code
        self.record["duration_s"] = round(time.monotonic() - self._started, 3)
        self._write_record()
        if self.run is None:
            return
        run, self.run = self.run, None
        try:
            run.summary.update(dict(summary))
            run.finish(exit_code=exit_code)
        except Exception as exc:  # the trial is done and recorded: W&B failing now must not undo it
            self.notice(
                f"W&B could not finish run {self.record['run_id']} ({type(exc).__name__}: {exc}); the trial's "
                f"results are kept in KerasTuner's records and {self.record_path.name}."
            )

    def _write_record(self) -> None:
        write_json(self.record_path, self.record)
