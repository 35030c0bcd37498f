"""One trial's W&B run: opened once, finished exactly once, recorded beside the trial."""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kt_wandb._log import logger
from kt_wandb._records import RUN_RECORD, Summary, TrialRecord, write_json
from kt_wandb._wandb_env import DEFAULT_TIMEOUT

__all__ = ["OnceNotice", "TrialRun", "WandbSession", "previous_attempts"]


class OnceNotice:
    """Tells the user of W&B trouble once per search (the `kt_wandb` logger, on stderr): one line, not one per trial."""

    def __init__(self) -> None:
        self.said = False

    def __call__(self, message: str) -> None:
        if not self.said:
            self.said = True
            logger.warning(message)


def _problem(exc: BaseException) -> str:
    """An exception in one line: wandb's messages run over several."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


class WandbSession:
    """The W&B side of one search: its runs' `wandb.init` arguments, its mode, and what it has said.

    Online, the first run that can't start (no network, a rejected key, an
    outage, a timeout) is started offline with the same id, and so is every
    later run of the search, without another online attempt; so are the runs
    after one whose upload outlasted its finish timeout (that run is kept on
    disk). One line says so, with the `wandb sync` command. A wandb service
    that died is replaced by a fresh one at the next run. Any W&B call that
    fails costs the run (what it had not yet logged), never the trial, and is
    said once.
    """

    def __init__(self, init_kwargs: dict[str, Any], search_id: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.kwargs = init_kwargs  # this search's own copy: `mode` turns offline here for the rest of it
        self.search_id = search_id
        self.timeout = timeout
        self.notice = OnceNotice()  # W&B trouble, said once per search
        self.offline_notice = OnceNotice()  # the search gone offline, with the sync command: said whatever came before
        self.unsent: list[str] = []  # the folders of online runs whose upload timed out
        self._requirements_saved = False

    @property
    def mode(self) -> str:
        return str(self.kwargs["mode"])

    def sync_command(self) -> str:
        where = os.path.join(self.kwargs["dir"], "wandb")
        online = ["--include-online", *map(shlex.quote, self.unsent)] if self.unsent else []  # skipped else
        return " ".join(["wandb sync", *online, f"{shlex.quote(where)}/offline-run-*-{self.search_id}-*"])

    def timed_out(self, run: Any) -> None:
        """W&B's server didn't take `run` within its finish timeout: it is kept on disk, and the search goes offline."""
        self.unsent.append(os.path.dirname(run.dir))
        self.kwargs["mode"] = "offline"
        self.offline_notice(
            f"W&B's server did not take run {run.id} within {run.settings.finish_timeout:g} s (the finish share of "
            f"wandb_timeout={self.timeout:g}); it is kept on disk, and this search's runs are kept offline from here "
            f"on, without trying online again. Upload them later with: {self.sync_command()}"
        )

    def start(self, run_id: str, **init: Any) -> Any:
        """Starts a run (online falling back to offline); None where W&B can't start at all."""
        from kt_wandb.tuners import _service

        if _service.service_alive() is False:  # wandb-core died since the last run: start a fresh one
            _service.forget_dead_service()
        try:
            return self._init(run_id, self.mode, init)
        except Exception as exc:
            failed = exc
        problem = _problem(failed)
        if self.mode == "online":  # no network, a rejected key, an outage, a timeout
            if _service.stream_started(failed):  # the service keeps the id "in use" otherwise
                _service.drop_stream(run_id, timeout=self.timeout / 2)
            try:
                run = self._init(run_id, "offline", init)
            except Exception as offline_exc:
                problem += f"; offline too: {_problem(offline_exc)}"
            else:
                self.kwargs["mode"] = "offline"
                self.offline_notice(
                    f"W&B could not start a run online ({problem}); this search's runs are kept offline from "
                    f"here on, without trying online again. Upload them later with: {self.sync_command()}"
                )
                return run
        self.notice(f"W&B could not start a run ({problem}); the search goes on and keeps its results in "
                    f"KerasTuner's records.")
        return None

    def _init(self, run_id: str, mode: str, init: dict[str, Any]) -> Any:
        import wandb

        from kt_wandb.tuners import _service

        # create_new: the trial's run lives beside any run of the user's own (a notebook's, a sweep agent's),
        # which "finish_previous" would finish. resume="never": a new search never writes into an old run.
        run = wandb.init(id=run_id, reinit="create_new", resume="never", **{**self.kwargs, **init, "mode": mode})
        if not self._requirements_saved and not run.disabled:
            # The package list is the same for every trial of a search: record it once.
            # Listing it costs more than the rest of a run's start together.
            self._requirements_saved = True
            self.kwargs["settings"] = _service.skip_requirements(self.kwargs.get("settings"))
        return run

    def failed(self, run_id: str, what: str, exc: Exception) -> None:
        """Says once that a W&B call failed: the service died, or the disk is full; W&B's loss, not the trial's."""
        self.notice(
            f"W&B failed to {what} for run {run_id} ({_problem(exc)}); the trial goes on, and its results "
            f"are kept in KerasTuner's records and {RUN_RECORD}. Later trials get W&B runs again."
        )


def _torn_attempts(text: str) -> list[TrialRecord]:
    """The attempts a half-written record stands for: its first key is the last attempt's run id.

    Records are written whole (`write_json`) now; one torn by an older version, or by a disk
    failure, still tells which attempt it was (`<id>-r<n>` is attempt n), so the next attempt's
    run id is new. Before its run id, it is taken for a first attempt.
    """
    found = re.search(r'"run_id":\s*"([^"]+)"', text)
    run_id = found.group(1) if found else None
    suffix = re.search(r"-r(\d+)$", run_id or "")
    earlier = int(suffix.group(1)) if suffix else 0
    return [*(TrialRecord(unreadable=True) for _ in range(earlier)), TrialRecord(run_id=run_id, unreadable=True)]


def previous_attempts(record_path: Path) -> list[TrialRecord]:
    """The earlier attempts at a trial, from its record; one without an exit code crashed."""
    try:
        text = record_path.read_text()
    except FileNotFoundError:
        return []
    try:
        record = TrialRecord.from_json(json.loads(text))
    except ValueError:  # torn: a crashed attempt, and what it holds is kept for a look
        record_path.with_name(f"{record_path.name}.unreadable").write_text(text)
        return _torn_attempts(text)
    earlier, record.previous_attempts = record.previous_attempts, []
    record.history = None  # the curves of an earlier attempt are not this one's
    return [*earlier, record]  # exit_code None: the process died before the run could finish


class TrialRun:
    """The W&B run of one attempt at a trial.

    `run` is None when W&B is disabled or could not start, or once it failed;
    the trial trains on and its results stay in KerasTuner's own records.
    """

    def __init__(self, run: Any, record_path: Path, record: TrialRecord, session: WandbSession) -> None:
        self.run = run
        self.session = session
        self.record_path = record_path
        self.record = record
        self.config: dict[str, Any] = {}
        self.sessions: list[Any] = []  # TensorBoard sessions still open
        self._started = time.monotonic()
        self._finished = False

    @classmethod
    def open(
        cls,
        session: WandbSession,
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
    ) -> TrialRun:
        """Starts the run beside any other and writes the trial's run record.

        `objective` is the objective's name and summary ("min" or "max"): its direction;
        `worker` the id of the distributed worker running the trial.
        """
        record_path = Path(trial_dir) / RUN_RECORD
        previous = previous_attempts(record_path)
        if previous:  # an attempt that crashed, was interrupted or failed: this one is a run of its own
            run_id = f"{run_id}-r{len(previous)}"
            summary = {**summary, Summary.ATTEMPT: len(previous), Summary.PREVIOUS_RUN: previous[-1].run_id}
        os.makedirs(session.kwargs["dir"], exist_ok=True)
        user_tags = session.kwargs.get("tags") or ()
        run = session.start(run_id, name=name, config=dict(config), tags=[*tags, *user_tags], group=group)
        trial_run = cls(run, record_path, cls._new_record(session, run, run_id, name, group, previous), session)
        trial_run.record.worker = worker
        trial_run.config = dict(config)
        trial_run.call("define the objective's summary", "define_metric", objective[0], summary=objective[1])
        trial_run.call("write the summary", "summary.update", dict(summary))
        trial_run._write_record()
        return trial_run

    @staticmethod
    def _new_record(
        session: WandbSession, run: Any, run_id: str, name: str, group: str, previous: list[TrialRecord]
    ) -> TrialRecord:
        record = TrialRecord(
            run_id=run_id,
            name=name,
            group=group,
            project=session.kwargs.get("project"),
            entity=session.kwargs.get("entity"),
            mode=run.settings.mode if run is not None else "failed",
            started=datetime.now(timezone.utc).isoformat(),
            previous_attempts=previous,
        )
        if run is not None and not run.disabled:
            record.run_dir = os.path.dirname(run.dir)
            record.path = run.path
            if run.settings.mode == "online":
                record.url = run.url
        return record

    def call(self, what: str, method: str, *args: Any, **kwargs: Any) -> bool:
        """Calls `run.<method>` (dotted: "summary.update"); a failure drops the run, says so once, returns False."""
        if self.run is None:
            return False
        target: Any = self.run
        for part in method.split("."):
            target = getattr(target, part)
        try:
            target(*args, **kwargs)
        except Exception as exc:
            self.drop(what, exc)
            return False
        return True

    def tag(self, tag: str) -> None:
        """Adds `tag` to the run's tags."""
        if self.run is None:
            return
        try:
            self.run.tags = (*self.run.tags, tag)
        except Exception as exc:
            self.drop("tag the run", exc)

    def drop(self, what: str, exc: Exception) -> None:
        """W&B failed to `what`: nothing more goes to this run (said once per search)."""
        if self.run is not None:
            self.session.failed(str(self.record.run_id), what, exc)
        self.run = None

    def finish(self, summary: Mapping[str, Any], *, exit_code: int) -> None:
        """Writes the summary, finishes the run with `exit_code`, waits until its log is whole, and records it.

        Called again after an interruption cut the first call short, it records
        the new exit code and leaves the run as the first call left it.
        """
        finishing_again, self._finished = self._finished, True
        self.record.exit_code = exit_code
        self.record.duration_s = round(time.monotonic() - self._started, 3)
        if not finishing_again and self.call("write the summary", "summary.update", dict(summary)):
            self._finish(exit_code)
        self.run = None
        self._write_record()

    def _finish(self, exit_code: int) -> None:
        from kt_wandb.tuners import _service

        try:
            self.run.finish(exit_code=exit_code)
        except TimeoutError as exc:
            if self.run.settings.mode != "online":  # an offline run's service that didn't answer in time
                self.drop("finish the run", exc)
                return
            self.record.upload_timed_out = True  # its upload outlasted the finish timeout: kept, for sync
            self.session.timed_out(self.run)
        except Exception as exc:
            self.drop("finish the run", exc)
            return
        # finish() returns before wandb-core has written the run's last records: wait for them.
        self.record.written = _service.wait_written()

    def _write_record(self) -> None:
        write_json(self.record_path, self.record.to_json())
