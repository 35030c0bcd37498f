"""Bad input caught before any training: each message says what was expected, what came, and the fix."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["check_fit_arguments", "check_tuner_arguments", "example_count"]

# Characters W&B refuses in a project name, and its length limit (for the suggested fix; W&B itself decides).
_PROJECT_FORBIDDEN = re.compile(r"[/\\#?%:]")
_PROJECT_MAX = 128


def _positive_int(name: str, value: Any, *, none_allowed: bool, fix: str) -> None:
    if value is None and none_allowed:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Expected `{name}` to be a whole number of 1 or more, received {value!r}. To fix, {fix}.")


def _wandb_refusal(project: str) -> str | None:
    """W&B's own verdict on a project name (its settings validate it, no network needed), or None if accepted."""
    import wandb

    try:
        wandb.Settings(project=project)
    except Exception as exc:  # pydantic's ValidationError, wrapping W&B's UsageError
        lines = [line.strip() for line in str(exc).splitlines() if "project name" in line]
        return lines[0] if lines else f"{type(exc).__name__}: {exc}"
    return None


def _check_project_name(project: str, argument: str) -> None:
    refusal = _wandb_refusal(project)
    if refusal is None:
        return
    fix = (f"pass `wandb_project=` a name W&B takes, such as {_PROJECT_FORBIDDEN.sub('-', project)[:_PROJECT_MAX]!r} "
           f"(letters, digits, '-', '_' and '.')")
    if argument == "project_name":
        fix += ", or change project_name (the runs' project by default)"
    raise ValueError(
        f"Expected a project name W&B accepts, received {project!r} (from `{argument}`), which W&B refuses: "
        f"{refusal}. To fix, {fix}."
    )


def check_tuner_arguments(kwargs: Mapping[str, Any], *, wandb_project: str | None, wandb_mode: str) -> None:
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
        _check_project_name(wandb_project, "wandb_project")
    elif isinstance(kwargs.get("project_name"), str) and wandb_mode != "disabled":  # the runs' project by default
        _check_project_name(kwargs["project_name"], "project_name")
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


def example_count(data: Any) -> int | None:
    """How many examples an array input holds; None for what is no array (a dataset, a generator)."""
    if isinstance(data, Mapping):  # named inputs
        data = next(iter(data.values()), None)
    elif isinstance(data, (list, tuple)) and data and hasattr(data[0], "shape"):  # several inputs
        data = data[0]
    if isinstance(data, list) or (hasattr(data, "shape") and hasattr(data, "__len__")):
        return len(data)
    return None


def check_fit_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """Checks `search(...)`'s fit arguments before the first trial trains."""
    if "epochs" in kwargs:
        _positive_int("epochs", kwargs["epochs"], none_allowed=False, fix="pass the number of epochs to train, e.g. 10")
    x = args[0] if args else kwargs.get("x")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    nx, ny = example_count(x), example_count(y)
    if nx is not None and ny is not None and nx != ny:
        raise ValueError(
            f"Expected as many labels as examples, received {nx} examples in x and {ny} in y. "
            f"To fix, give x and y of the same length."
        )
