"""Bad input caught before any training: each message says what was expected, what came, and the fix."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["check_fit_arguments", "check_tuner_arguments"]

# Characters W&B refuses in a project name, and its length limit.
_PROJECT_FORBIDDEN = re.compile(r"[/\\#?%:]")
_PROJECT_MAX = 128


def _positive_int(name: str, value: Any, *, none_allowed: bool, fix: str) -> None:
    if value is None and none_allowed:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Expected `{name}` to be a whole number of 1 or more, received {value!r}. To fix, {fix}.")


def check_tuner_arguments(kwargs: Mapping[str, Any], *, wandb_project: str | None) -> None:
    """Checks `WandbTuner(...)`'s arguments before KerasTuner creates or overwrites anything."""
    if "max_trials" in kwargs:
        _positive_int("max_trials", kwargs["max_trials"], none_allowed=True,
                      fix="pass the number of trials to run, or None for the oracle's own limit")
    if "executions_per_trial" in kwargs:
        _positive_int("executions_per_trial", kwargs["executions_per_trial"], none_allowed=False,
                      fix="pass 1, or more to average several trainings of each trial")
    if wandb_project is not None:
        if not isinstance(wandb_project, str) or not wandb_project.strip():
            raise ValueError(
                f"Expected `wandb_project` to be a non-empty name, received {wandb_project!r}. "
                f"To fix, pass a name such as 'digits-search', or leave it out to use project_name."
            )
        bad = sorted(set(_PROJECT_FORBIDDEN.findall(wandb_project)))
        if bad or len(wandb_project) > _PROJECT_MAX:
            raise ValueError(
                f"Expected a W&B project name of at most {_PROJECT_MAX} characters without any of / \\ # ? % :, "
                f"received {wandb_project!r}{f' (with {bad})' if bad else f' ({len(wandb_project)} characters)'}. "
                f"To fix, use letters, digits, '-', '_' and '.', for example "
                f"{_PROJECT_FORBIDDEN.sub('-', wandb_project)[:_PROJECT_MAX]!r}."
            )
    directory = kwargs.get("directory")
    if directory is not None:
        existing = os.path.abspath(os.fspath(directory))
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise ValueError(
                f"Expected a `directory` the search can write to, received {os.fspath(directory)!r}, where "
                f"{existing!r} is a file, not a folder. To fix, pass a path that is not below a file."
            )
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(
                f"Expected a `directory` the search can write to, received {os.fspath(directory)!r}, where "
                f"{existing!r} is not writable. To fix, pass a folder you can write to, or fix its permissions."
            )


def _length(data: Any) -> int | None:
    if isinstance(data, Mapping):
        data = next(iter(data.values()), None)
    elif isinstance(data, (list, tuple)) and data and hasattr(data[0], "shape"):
        data = data[0]
    return len(data) if hasattr(data, "shape") and hasattr(data, "__len__") else None


def check_fit_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """Checks `search(...)`'s fit arguments before the first trial trains."""
    if "epochs" in kwargs:
        _positive_int("epochs", kwargs["epochs"], none_allowed=False, fix="pass the number of epochs to train, e.g. 10")
    x = args[0] if args else kwargs.get("x")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    nx, ny = _length(x), _length(y)
    if nx is not None and ny is not None and nx != ny:
        raise ValueError(
            f"Expected as many labels as examples, received {nx} examples in x and {ny} in y. "
            f"To fix, give x and y of the same length."
        )
