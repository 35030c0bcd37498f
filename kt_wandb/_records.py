"""The files a search writes beside KerasTuner's, shared by their writer (tuners) and readers (analysis)."""

from __future__ import annotations

import enum
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

__all__ = [
    "ENDED", "IDENTITY_FILE", "PANELS_RECORD", "PRUNING_RECORD", "RUN_RECORD", "Status", "config_key",
    "hyperparameter_name",
    "pruned_at", "read_json", "searched_values", "trial_status", "write_json", "write_text",
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


def pruned_at(record: Mapping[str, Any]) -> int | None:
    """The epoch a pruner stopped the trial after, from its run record; None where none did."""
    pruned = record.get("pruned")
    return None if pruned is None else int(pruned["epoch"])


def trial_status(status: str, record: Mapping[str, Any]) -> Status:
    """A trial's status from KerasTuner's (`trial.json`) and its run record: PRUNED for a completed trial a pruner
    stopped (KerasTuner completes it with its best score so far)."""
    if status == Status.COMPLETED and pruned_at(record) is not None:
        return Status.PRUNED
    return Status(status)


# KerasTuner's own bookkeeping among a trial's values (Hyperband's `tuner/epochs`, ...): no hyperparameter.
_KERAS_TUNER_KEYS = "tuner/"


def searched_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's hyperparameters: its values without KerasTuner's own `tuner/...` bookkeeping."""
    return {name: value for name, value in values.items() if not name.startswith(_KERAS_TUNER_KEYS)}


def config_key(name: str) -> str:
    """The W&B config key of a hyperparameter: its name, with what W&B can't take percent-encoded.

    Example:
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
