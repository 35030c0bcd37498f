"""The files a search writes beside KerasTuner's, shared by their writer (tuners) and readers (analysis)."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

__all__ = [
    "ENDED", "IDENTITY_FILE", "PANELS_RECORD", "PRUNING_RECORD", "RUN_RECORD", "Status", "Summary", "TrialRecord",
    "config_key", "hyperband_place", "hyperparameter_name", "read_json", "searched_values", "trial_status",
    "write_json", "write_text",
]

# In the project directory: the search's id, objective, direction and oracle.
IDENTITY_FILE = "kt_wandb.json"
# In each trial's directory: the trial's W&B run (id, local folder, exit code), duration and execution scores.
RUN_RECORD = "wandb_run.json"
# In each trial's directory, where a pruner judged it: its curve as the pruner saw it, and where it was pruned.
PRUNING_RECORD = "pruning.json"
# In the project directory, once its W&B report is saved: the report (id, url, entity, project), updated in place later.
PANELS_RECORD = "wandb_report.json"

# What W&B mishandles in a config key, percent-encoded: '.' reads as nesting in its filters and panels,
# a leading '_' marks W&B's own keys (hidden), leading and trailing '-' are stripped by the SDK, a leading
# '$' is refused by its store. '%' itself is always encoded, so that the mapping can be undone.
_EMPTY_KEY = "%"


class Status(str, enum.Enum):
    """A trial's status as kt-wandb tells it: KerasTuner's, and PRUNED for a completed trial a pruner stopped.

    A `str`: each compares equal to its name, as KerasTuner's `TrialStatus` strings do.
    """

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    PRUNED = "PRUNED"
    FAILED = "FAILED"
    INVALID = "INVALID"
    INTERRUPTED = "INTERRUPTED"  # a run's: Ctrl-C or SIGTERM ended its trial
    ABORTED = "ABORTED"  # a run's: an exception ended the search in its trial

    def __str__(self) -> str:
        return self.value


# Trials that ended, in the order a report lists them.
ENDED = (Status.COMPLETED, Status.PRUNED, Status.FAILED, Status.INVALID)


class Summary:
    """The keys kt-wandb writes in a trial's W&B run summary, beside the metrics and the objective's own name."""

    TRIAL_ID = "trial/id"
    STATUS = "trial/status"
    ERROR = "trial/error"
    TRACEBACK = "trial/traceback"
    PRUNED_AT = "trial/pruned_at_epoch"
    DIVERGED_AT = "trial/diverged_at_epoch"
    HP_NAMES = "trial/hp_names"  # W&B config keys that stand for other hyperparameter names
    WORKER = "trial/worker"
    ATTEMPT = "trial/attempt"
    PREVIOUS_RUN = "trial/previous_run"
    MODEL_ARTIFACT_ERROR = "trial/model_artifact_error"
    BEST_EPOCH = "best_epoch"
    CV_FOLDS = "cv/folds"

    @staticmethod
    def part_score(kind: str, index: int, objective: str) -> str:
        """An execution's or fold's score: `fold_<i>/<objective>`."""
        return f"{kind}_{index}/{objective}"

    @staticmethod
    def cv_std(objective: str) -> str:
        """The standard deviation of the folds' scores."""
        return f"cv/{objective}_std"

    @staticmethod
    def hyperband(values: Mapping[str, Any]) -> dict[str, Any]:
        """Hyperband's place for a trial (`hyperband/bracket`, ...), from KerasTuner's `tuner/...` values."""
        return {f"hyperband/{key}": value for key, value in hyperband_place(values).items()}


@dataclass
class TrialRecord:
    """One attempt at a trial, as `wandb_run.json` in the trial's directory records it: the tuner writes it,
    the analysis and the CLI read it.

    A field that is None (or False) is left out of the file, as older versions left it out; keys this version
    doesn't know are kept in `extra` and written back.

    Attributes:
        run_id: The W&B run's id (`<search id>-<trial id>`, `-r<n>` for a later attempt).
        mode: The run's W&B mode: "online", "offline", "disabled", or "failed" where W&B could not start it.
        started: When the attempt began (ISO 8601, UTC).
        run_dir: The run's local folder (W&B's `run.dir`'s parent).
        exit_code: The run's exit code; None while it runs, or where the process died first.
        duration_s: Seconds from the run's start to its finish.
        written: Whether wandb-core confirmed the run's log whole on disk.
        upload_timed_out: Online, its upload outlasted the finish timeout: kept on disk, for `kt-wandb sync`.
        history: Each execution's (or fold's) epochs: `[{"epoch": 0, "loss": ...}, ...]`.
        execution_scores: Each execution's score, where a trial had several.
        fold_scores: Each fold's score, under cross-validation.
        pruned: Where a pruner stopped the trial: `{"epoch": e, "part": i}`.
        diverged: Where the loss went non-finite: `{"epoch": e, "loss": x, "part": name}`.
        previous_attempts: The earlier attempts' records, without their history.
        unreadable: An earlier attempt whose record was torn.
    """

    run_id: str | None = None
    name: str | None = None
    group: str | None = None
    project: str | None = None
    entity: str | None = None
    mode: str | None = None
    started: str | None = None
    run_dir: str | None = None
    path: str | None = None
    url: str | None = None
    worker: str | None = None
    exit_code: int | None = None
    duration_s: float | None = None
    written: bool | None = None
    upload_timed_out: bool = False
    history: list[list[dict[str, Any]]] | None = None
    execution_scores: list[float] | None = None
    fold_scores: list[float] | None = None
    pruned: dict[str, Any] | None = None
    diverged: dict[str, Any] | None = None
    model_artifact_error: str | None = None
    previous_attempts: list[TrialRecord] = field(default_factory=list)
    unreadable: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrialRecord:
        """The record a `wandb_run.json` holds (any version's: unknown keys go to `extra`)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"extra", "previous_attempts"}
        record = cls(**{k: v for k, v in data.items() if k in known})
        record.previous_attempts = [cls.from_json(a) for a in data.get("previous_attempts", [])]
        record.extra = {k: v for k, v in data.items() if k not in known and k != "previous_attempts"}
        return record

    def to_json(self, *, top: bool = True) -> dict[str, Any]:
        """The record as `wandb_run.json` holds it (`top`: the file's own, else an earlier attempt's within it)."""
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            unset = value is None or value is False
            if f.name == "run_id" or (f.name not in ("extra", "previous_attempts") and not unset):
                data[f.name] = value
        if self.previous_attempts or top:
            data["previous_attempts"] = [{"exit_code": a.exit_code, **a.to_json(top=False)}
                                         for a in self.previous_attempts]
        return {**data, **self.extra}

    @property
    def pruned_at(self) -> int | None:
        """The epoch a pruner stopped the trial after; None where none did."""
        return None if self.pruned is None else int(self.pruned["epoch"])

    def scores(self, kind: str) -> list[float]:
        """The executions' ("execution") or folds' ("fold") scores."""
        return list((self.fold_scores if kind == "fold" else self.execution_scores) or [])

    def set_scores(self, kind: str, scores: list[float]) -> None:
        """Records the executions' ("execution") or folds' ("fold") scores."""
        if kind == "fold":
            self.fold_scores = scores
        else:
            self.execution_scores = scores


def trial_status(status: str, record: TrialRecord) -> Status:
    """A trial's status from KerasTuner's (`trial.json`) and its run record: PRUNED for a completed trial a pruner
    stopped (KerasTuner completes it with its best score so far)."""
    if status == Status.COMPLETED and record.pruned_at is not None:
        return Status.PRUNED
    return Status(status)


# KerasTuner's own bookkeeping among a trial's values (Hyperband's `tuner/epochs`, ...): no hyperparameter.
_KERAS_TUNER_KEYS = "tuner/"


# Hyperband's place for a trial, by KerasTuner's names: the trial whose checkpoint it continues is `tuner/trial_id`.
_HYPERBAND_KEYS = {"bracket": "bracket", "round": "round", "epochs": "epochs", "initial_epoch": "initial_epoch",
                   "continued_from": "trial_id"}


def hyperband_place(values: Mapping[str, Any]) -> dict[str, Any]:
    """Where Hyperband put a trial, from KerasTuner's `tuner/...` values: its `bracket`, `round`, `epochs`,
    `initial_epoch` and the trial it `continued_from` (None for a first round); {} for another oracle's trial."""
    if values.get(f"{_KERAS_TUNER_KEYS}bracket") is None:
        return {}
    return {key: values.get(f"{_KERAS_TUNER_KEYS}{name}") for key, name in _HYPERBAND_KEYS.items()}


def searched_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's hyperparameters: its values without KerasTuner's own `tuner/...` bookkeeping."""
    return {name: value for name, value in values.items() if not name.startswith(_KERAS_TUNER_KEYS)}


def config_key(name: str) -> str:
    """The W&B config key of a hyperparameter: its name, with what W&B can't take percent-encoded.

    Examples:
        >>> config_key("block.0.units"), config_key("_scale"), config_key("learning_rate")
        ('block%2E0%2Eunits', '%5Fscale', 'learning_rate')
    """
    if not name:
        return _EMPTY_KEY
    key = name.replace("%", "%25").replace(".", "%2E")
    if key[0] in "-_$":
        key = f"%{ord(key[0]):02X}{key[1:]}"
    if key[-1] == "-":
        key = f"{key[:-1]}%2D"
    return key


def hyperparameter_name(key: str) -> str:
    """The hyperparameter name a W&B config key stands for: `config_key` undone."""
    return "" if key == _EMPTY_KEY else unquote(key)


def read_json(path: str | Path) -> dict[str, Any]:
    """A JSON record of the search, or {} where there is none or it can't be read (torn by an older version)."""
    path = Path(path)
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):  # none, or half-written: what it says can't be trusted
        return {}


def write_json(path: str | Path, data: Any) -> None:
    """Writes a JSON record whole or not at all: a reader, or a process killed mid-write, never leaves it torn."""
    write_text(path, json.dumps(data, indent=2))


def write_text(path: str | Path, text: str) -> None:
    """Writes a file whole or not at all (a temporary file beside it, renamed over it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)  # atomic on POSIX and Windows, within one folder
    finally:
        tmp.unlink(missing_ok=True)
