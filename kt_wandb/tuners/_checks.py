"""Bad input caught before any training: each message says what was expected, what came, and the fix."""

from __future__ import annotations

import numbers
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_fit_arguments", "check_live_report", "check_tuner_arguments", "check_wandb_arguments", "example_count",
    "is_whole_number", "shown",
]

# Characters W&B refuses in a project name, and its length limit (for the suggested fix; W&B itself decides).
_PROJECT_FORBIDDEN = re.compile(r"[/\\#?%:]")
_PROJECT_MAX = 128


def is_whole_number(value: Any) -> bool:
    """An int as Keras takes one: Python's or NumPy's (`numbers.Integral`), but no bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real_number(value: Any) -> bool:
    """A float as Keras takes one: Python's, NumPy's or an int (`numbers.Real`), but no bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def shown(value: Any) -> str:
    """`repr(value)`, a NumPy scalar as the Python number it holds (2, not np.int64(2))."""
    return repr(value.item()) if isinstance(value, np.generic) else repr(value)


def _positive_int(name: str, value: Any, *, none_allowed: bool, fix: str, numpy: bool = False) -> None:
    if value is None and none_allowed:
        return
    whole = is_whole_number(value) if numpy else isinstance(value, int) and not isinstance(value, bool)
    if not whole or value < 1:
        raise ValueError(
            f"Expected `{name}` to be a whole number of 1 or more, received {shown(value)}. To fix, {fix}."
        )


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


def _check_type(name: str, value: Any, expected: type | tuple[type, ...], wanted: str, fix: str) -> None:
    if not isinstance(value, expected):
        raise ValueError(
            f"Expected `{name}` to be {wanted}, received {value!r} ({type(value).__name__}). To fix, {fix}."
        )


def _check_writable_folder(name: str, path: str | os.PathLike[str]) -> None:
    """`path` is, or can be made, a folder the search writes to: not a file, not below one, not read-only."""
    given = os.fspath(path)
    if os.path.exists(given) and not os.path.isdir(given):
        raise ValueError(
            f"Expected `{name}` to be a folder, received {given!r}, which is a file. To fix, pass the path of a "
            f"folder (it is created if missing), or move the file away."
        )
    existing = os.path.abspath(given)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(
            f"Expected a `{name}` the search can write to, received {given!r}, where "
            f"{existing!r} is a file, not a folder. To fix, pass a path that is not below a file."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"Expected a `{name}` the search can write to, received {given!r}, where "
            f"{existing!r} is not writable. To fix, pass a folder you can write to, or fix its permissions."
        )


def check_wandb_arguments(
    *,
    wandb_entity: Any,
    wandb_kwargs: Any,
    log_best_model: Any,
    wandb_panels: Any,
    tensorboard_dir: Any,
) -> None:
    """Checks `WandbTuner(...)`'s own arguments (beside KerasTuner's) before anything is created."""
    if wandb_entity is not None:
        _check_type("wandb_entity", wandb_entity, str, "a W&B user or team name (a str) or None",
                    "pass your W&B user or team name, or leave it out for your default entity")
    if wandb_kwargs is not None and not isinstance(wandb_kwargs, Mapping):
        raise ValueError(
            f"Expected `wandb_kwargs` to be a mapping of `wandb.init` arguments, received {wandb_kwargs!r} "
            f"({type(wandb_kwargs).__name__}). To fix, pass a dict, for example `wandb_kwargs={{\"tags\": "
            f"[\"baseline\"]}}`."
        )
    if wandb_kwargs is not None and not all(isinstance(key, str) for key in wandb_kwargs):
        raise ValueError(
            f"Expected `wandb_kwargs` keyed by `wandb.init` argument names, received the keys "
            f"{list(wandb_kwargs)}. To fix, use the argument names as strings, e.g. {{\"notes\": \"...\"}}."
        )
    if wandb_kwargs is not None and wandb_kwargs.get("dir") is not None:
        _check_writable_folder("wandb_kwargs['dir']", wandb_kwargs["dir"])
    _check_type("log_best_model", log_best_model, bool, "True or False",
                "pass `log_best_model=True` or `log_best_model=False`")
    if wandb_panels is not None:
        _check_type("wandb_panels", wandb_panels, bool, "True, False or None (where wandb-workspaces is installed)",
                    "pass `wandb_panels=True` or `wandb_panels=False`, or leave it out")
    if tensorboard_dir is not None:
        _check_type("tensorboard_dir", tensorboard_dir, (str, os.PathLike), "a folder path or None",
                    "pass a folder such as 'logs/hparam_tuning', or leave it out")
        _check_writable_folder("tensorboard_dir", tensorboard_dir)


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
        _check_type("directory", directory, (str, os.PathLike), "a folder path",
                    "pass the folder the search keeps its trials in, such as 'runs'")
        _check_writable_folder("directory", directory)
    project_name = kwargs.get("project_name")
    if project_name is not None and (not isinstance(project_name, str) or not project_name.strip()):
        raise ValueError(
            f"Expected `project_name` to be a non-empty folder name, received {project_name!r}. "
            f"To fix, pass a name such as 'digits'."
        )


def example_count(data: Any) -> int | None:
    """How many examples an array input holds; None for what is no array (a dataset, a generator).

    Taken from the array's `shape`, where it has one: a SciPy sparse matrix has no length.
    """
    if isinstance(data, Mapping):  # named inputs
        data = next(iter(data.values()), None)
    elif isinstance(data, (list, tuple)) and data and hasattr(data[0], "shape"):  # several inputs
        data = data[0]
    if isinstance(data, list):
        return len(data)
    shape = getattr(data, "shape", None)
    if shape is None or isinstance(data, type):
        return None
    try:
        rows = shape[0]
    except (IndexError, TypeError):  # a scalar (shape ()), or a shape that is no sequence
        return None
    return int(rows) if is_whole_number(rows) else None  # None: unknown (a symbolic tensor's)


def check_fit_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """Checks `search(...)`'s fit arguments before the first trial trains."""
    if "epochs" in kwargs:
        _positive_int("epochs", kwargs["epochs"], none_allowed=False, numpy=True,
                      fix="pass the number of epochs to train, e.g. 10")
    x = args[0] if args else kwargs.get("x")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    nx, ny = example_count(x), example_count(y)
    if nx is not None and ny is not None and nx != ny:
        raise ValueError(
            f"Expected as many labels as examples, received {nx} examples in x and {ny} in y. "
            f"To fix, give x and y of the same length."
        )
    _check_validation_and_callbacks(kwargs)


def _check_validation_and_callbacks(kwargs: Mapping[str, Any]) -> None:
    split = kwargs.get("validation_split")
    if split is not None and (not _is_real_number(split) or not 0 <= split < 1):
        raise ValueError(
            f"Expected `validation_split` to be a fraction from 0 up to (not including) 1, received {shown(split)}. "
            f"To fix, pass the share of the data to hold out, e.g. 0.2."
        )
    callbacks = kwargs.get("callbacks")
    if callbacks is None:
        return
    import keras

    if not isinstance(callbacks, (list, tuple)):
        raise ValueError(
            f"Expected `callbacks` to be a list of Keras callbacks, received {type(callbacks).__name__}. "
            f"To fix, wrap it in a list: callbacks=[...]."
        )
    wrong = [type(c).__name__ for c in callbacks if not isinstance(c, keras.callbacks.Callback)]
    if wrong:
        raise ValueError(
            f"Expected `callbacks` to hold keras.callbacks.Callback instances, received {wrong}. "
            f"To fix, pass instances (e.g. keras.callbacks.EarlyStopping(patience=2)), not classes or functions."
        )
    _check_deep_copyable(callbacks)


def _check_deep_copyable(callbacks: Any) -> None:
    """KerasTuner copies the callbacks for each trial: one that can't be copied is refused before the first trial,
    with KerasTuner's own error type and words (code may catch or match them), then the fix."""
    import copy

    from keras_tuner.errors import FatalValueError

    try:
        copy.deepcopy(list(callbacks))
    except Exception as exc:
        raise FatalValueError(
            f"All callbacks used during a search should be deep-copyable (since they are reused across trials). "
            f"It is not possible to do `copy.deepcopy({list(callbacks)})` ({type(exc).__name__}: {exc}). To fix, "
            f"keep what can't be copied (a lock, a file, a client) out of the callback's attributes, or give the "
            f"callback a __deepcopy__ that shares it."
        ) from exc


def check_live_report(live_report: Any) -> float:
    """`WandbTuner(live_report=...)` as the share of the search's time the live report may take (0: none)."""
    if live_report is True:
        return 0.02
    if live_report is False:
        return 0.0
    if isinstance(live_report, float) and 0 < live_report <= 1:
        return live_report
    raise ValueError(
        f"Expected `live_report` to be True, False or a share of the search's time between 0 and 1, received "
        f"{live_report!r}. To fix, pass `live_report=True` (at most 2 % of the search's time spent writing it), "
        f"`False`, or a share such as 0.05."
    )
