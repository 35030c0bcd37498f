"""The results table: one row per trial, built from the search's own files.

It reads what KerasTuner writes (`trial_<id>/trial.json`) and what the tuner
writes beside it (`trial_<id>/wandb_run.json`, `kt_wandb.json`), never W&B, so
it works after a crash and resume, with W&B disabled, and on a search that
another process ran.
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from kt_wandb._direction import Direction
from kt_wandb._heap import paused_collector
from kt_wandb._records import (
    IDENTITY_FILE,
    RUN_RECORD,
    Status,
    TrialRecord,
    hyperband_place,
    read_json,
    searched_values,
    trial_status,
)

__all__ = ["learning_curves", "load_trials", "results_frame", "search_space", "trim_read_cache"]



def load_trials(project_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every trial of a search: KerasTuner's `trial.json` with the W&B run record as `"wandb"`.

    Files unchanged since the last call are not read again (a table, then a report, or a live report after
    each trial, read each file once), within the cache's budget (4 MB of files kept after a call, about 5 times
    that in memory; 32 MB while a live report follows a search): the dicts inside are shared with that cache,
    so copy before changing them.

    Raises:
        FileNotFoundError: When `project_dir` holds no trial.
    """
    global _reading
    root = Path(project_dir)
    paths = sorted(root.glob("trial_*/trial.json"))
    if not paths:
        raise FileNotFoundError(
            f"Expected a KerasTuner project directory with trial_*/trial.json files, received "
            f"{str(root)!r}, which has none. To fix, pass the tuner's `directory` joined with its "
            f"`project_name`, for example 'runs/digits'."
        )
    with _READ_LOCK:  # a chief's live report and a user's call may read at once
        _reading += 1
    return [{**_read_cached(path, json.loads), "wandb": _read_cached(path.parent / RUN_RECORD, _record)}
            for path in paths]


@dataclass
class _Read:
    """A file as `load_trials` last read it, and the call that last used it."""

    mtime_ns: int
    size: int
    parsed: dict[str, Any]
    used: int


# What load_trials read last, by file, least recently used first. A search's files are read again only where
# they changed, so a table then a report (or a live report after every trial) read most of them once. While a
# live report follows a search (`write_report(live=True)`) it holds up to _READ_BUDGET bytes of files (parsed,
# about 5 times that in memory); any other call leaves at most _KEEP_BUDGET of them when it returns (4 MB:
# some 1,300 trials of 10 epochs). Past the budget, the files least recently used go, but never those of the
# call under way: a search bigger than the budget, read again and again, keeps its first files cached rather
# than none (a least-recently-used cache would drop each file just before it is read again).
_READ: collections.OrderedDict[str, _Read] = collections.OrderedDict()
_READ_BUDGET = 32_000_000
_KEEP_BUDGET = 4_000_000
_read_bytes = 0  # the sizes of the files in _READ
_READ_LOCK = threading.Lock()
_reading = 0  # load_trials calls so far: the one under way
_RACY_NS = 2_000_000_000


def trim_read_cache(budget: int | None = None) -> None:
    """Drops the files `load_trials` read least recently until those left come to `budget` bytes at most.

    The analysis does it as a call returns (`_KEEP_BUDGET`), but for a live report's.
    """
    global _read_bytes
    limit = _KEEP_BUDGET if budget is None else budget
    with _READ_LOCK:
        while _read_bytes > limit and _READ:
            _read_bytes -= _READ.popitem(last=False)[1].size


def _record(text: str) -> dict[str, Any]:
    try:
        return dict(json.loads(text))
    except ValueError:  # half-written by an older version: what it says can't be trusted
        return {}


def _read_cached(path: Path, parse: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """`parse` of the file's text, from the cache while the file is unchanged; {} where there is no file."""
    global _read_bytes
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {}
    key = str(path)
    with _READ_LOCK:
        cached = _READ.get(key)
        if cached is not None and (cached.mtime_ns, cached.size) == (stat.st_mtime_ns, stat.st_size):
            cached.used = _reading
            _READ.move_to_end(key)
            return cached.parsed
    parsed = parse(path.read_text())
    with _READ_LOCK:
        if key in _READ:  # changed: its old version goes
            _read_bytes -= _READ.pop(key).size
        if time.time_ns() - stat.st_mtime_ns < _RACY_NS:  # written just now: a rewrite within the file system's
            return parsed                                   # time resolution could keep its mtime and size (git's)
        while _read_bytes + stat.st_size > _READ_BUDGET and _READ:
            oldest = next(iter(_READ.values()))
            if oldest.used == _reading:  # the call under way's own: this file is not kept instead
                return parsed
            _read_bytes -= _READ.popitem(last=False)[1].size
        if stat.st_size <= _READ_BUDGET:
            _READ[key] = _Read(stat.st_mtime_ns, stat.st_size, parsed, _reading)
            _read_bytes += stat.st_size
    return parsed


def search_space(trials: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each hyperparameter's config (its `class`, sampling, values, ...) over all trials' spaces."""
    space: dict[str, dict[str, Any]] = {}
    for trial in trials:
        for item in trial["hyperparameters"]["space"]:
            space[item["config"]["name"]] = {"class": item["class_name"], **item["config"]}
    return space


def _number(value: Any) -> Any:
    return float("nan") if value is None else value


@paused_collector()  # no pass over the whole heap in mid-call: kt_wandb._heap
def results_frame(
    project_dir: str | os.PathLike[str], *, trials: list[dict[str, Any]] | None = None
) -> pd.DataFrame:
    """The search's trials as a DataFrame, one row per trial in the order they started.

    Columns, in the spirit of scikit-learn's `cv_results_`:
    `trial_id`, `status` (KerasTuner's, or "PRUNED" for a trial a pruner stopped, which
    KerasTuner counts as completed), `pruned_at_epoch` where trials were pruned (the
    0-based epoch they stopped after), `error` (the last line of a failed trial's error),
    `param_<name>` for each hyperparameter (NaN where a conditional one is absent),
    `score` (the objective as the oracle ranked it),
    `best_step`, `metric_<name>` for each metric at the best step, `best_<name>`
    for each metric's best epoch (by the metric's direction; with several
    executions, the mean of each execution's best),
    `execution_<i>_score` where trials ran several executions, `fold_<i>_score` and
    `fold_std_score` where they were cross-validated (`cv=`), `bracket`, `round` and
    `continued_from` (the trial it continues) under Hyperband, `started` (ISO 8601,
    UTC) and `duration_s` where the trial's run was recorded,
    `worker` where a distributed search's workers ran them, and
    `wandb_run_id`, `wandb_run_path`, `wandb_url`, `wandb_run_dir`, `wandb_exit_code`.
    `frame.attrs` holds the search's `objective`, `direction`, `oracle` and `search_id`
    where the search was run by `WandbTuner`.

    Args:
        project_dir: The search's project directory (`directory/project_name`).
        trials: Its trials, where `load_trials` already read them.

    Examples:
        >>> frame = results_frame("runs/digits")  # doctest: +SKIP
        >>> frame.sort_values("score", ascending=False).head()  # doctest: +SKIP
    """
    if trials is None:
        trials = load_trials(project_dir)
        trim_read_cache()
    rows = [_trial_row(trial, TrialRecord.from_json(trial["wandb"])) for trial in trials]
    frame = pd.DataFrame(rows)
    frame = frame[_ordered(frame.columns)]
    if "pruned_at_epoch" in frame:
        frame["pruned_at_epoch"] = frame["pruned_at_epoch"].astype("Int64")
    facts = read_json(Path(project_dir) / IDENTITY_FILE)
    frame.attrs.update({k: facts[k] for k in ("objective", "direction", "oracle", "search_id") if k in facts})
    return frame


def _trial_row(trial: dict[str, Any], record: TrialRecord) -> dict[str, Any]:
    """One row of `results_frame`: KerasTuner's `trial.json` beside kt-wandb's run record."""
    values = trial["hyperparameters"]["values"]
    row: dict[str, Any] = {"trial_id": trial["trial_id"], "status": str(trial_status(trial["status"], record))}
    if row["status"] == Status.PRUNED:
        row["pruned_at_epoch"] = record.pruned_at
    message = (trial.get("message") or "").strip()
    row["error"] = message.splitlines()[-1] if message else None
    row.update({f"param_{k}": v for k, v in searched_values(values).items()})
    place = hyperband_place(values)
    if place:  # Hyperband's: where the trial sits in its schedule, and its parent
        row.update({key: place[key] for key in ("bracket", "round", "continued_from")})
    row["score"] = _number(trial.get("score"))
    row["best_step"] = _number(trial.get("best_step") if trial.get("score") is not None else None)
    for name, tracker in trial["metrics"]["metrics"].items():
        observations = tracker.get("observations") or []
        row[f"metric_{name}"] = _number(observations[-1]["value"][0] if observations else None)
    row.update(_best_values(record.history or [], trial["metrics"]["metrics"]))
    return {**row, **_record_columns(record)}


def _record_columns(record: TrialRecord) -> dict[str, Any]:
    """The run record's columns: the executions' or folds' scores, timing, worker and W&B run."""
    row: dict[str, Any] = {}
    for kind in ("execution", "fold"):
        row.update({f"{kind}_{index}_score": score for index, score in enumerate(record.scores(kind))})
    if record.fold_scores:
        row["fold_std_score"] = float(pd.Series(record.fold_scores).std(ddof=0))
    row["started"] = record.started
    row["duration_s"] = _number(record.duration_s)
    if record.worker is not None:
        row["worker"] = record.worker
    row.update({"wandb_run_id": record.run_id, "wandb_run_path": record.path, "wandb_url": record.url,
                "wandb_run_dir": record.run_dir, "wandb_exit_code": _number(record.exit_code)})
    return row


def _ordered(columns: pd.Index) -> list[str]:
    """Identity first, then parameters, scores, metrics, and the W&B columns last."""

    def rank(name: str) -> tuple[int, str]:
        for position, prefix in enumerate(
            (
                "trial_id", "status", "pruned_at_epoch", "error", "bracket", "round", "continued_from", "param_",
                "score", "best_step", "execution_", "fold_", "metric_", "best_", "started", "duration_s", "worker",
                "wandb_",
            )
        ):
            if name.startswith(prefix):
                return position, ""
        return 99, ""  # anything else keeps its order, at the end

    return sorted(columns, key=rank)


def _best_values(history: list[list[dict[str, float]]], trackers: dict[str, Any]) -> dict[str, float]:
    """Each tracked metric's best epoch value, averaged over the executions."""
    best: dict[str, float] = {}
    for name, tracker in trackers.items():
        pick = Direction("max" if tracker.get("direction") == "max" else "min").best
        per_execution = [
            pick(values)
            for curve in history
            if (values := [epoch[name] for epoch in curve if name in epoch and epoch[name] == epoch[name]])
        ]
        if per_execution:
            best[f"best_{name}"] = sum(per_execution) / len(per_execution)
    return best


@paused_collector()  # no pass over the whole heap in mid-call: kt_wandb._heap
def learning_curves(
    project_dir: str | os.PathLike[str], *, trials: list[dict[str, Any]] | None = None
) -> pd.DataFrame:
    """Every epoch of every trial, long format: `trial_id`, `execution`, `epoch`, `metric`, `value`.

    `trials` are the search's trials, where `load_trials` already read them.
    """
    if trials is None:
        trials = load_trials(project_dir)
        trim_read_cache()
    rows = [
        (trial["trial_id"], execution, epoch["epoch"], name, value)
        for trial in trials
        for execution, curve in enumerate(trial["wandb"].get("history") or [])
        for epoch in curve
        for name, value in epoch.items()
        if name != "epoch"
    ]
    return pd.DataFrame(rows, columns=["trial_id", "execution", "epoch", "metric", "value"])
