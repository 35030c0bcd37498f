"""The files a search writes beside KerasTuner's, shared by their writer (tuners) and readers (analysis)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import unquote

__all__ = [
    "IDENTITY_FILE", "PANELS_RECORD", "PRUNING_RECORD", "RUN_RECORD", "config_key", "hyperparameter_name",
    "read_json", "write_json", "write_text",
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
