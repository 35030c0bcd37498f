"""k-fold cross-validation of a trial: checking the request before any training, and the folds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras_tuner as kt
import numpy as np

from kt_wandb.tuners._checks import example_count, is_whole_number, shown

__all__ = ["CrossValidation", "plan_cross_validation"]


@dataclass
class CrossValidation:
    """The folds of a cross-validated search: `(train, validation)` index arrays, and which one is next."""

    x: Any
    y: Any
    folds: list[tuple[np.ndarray, np.ndarray]]
    stratified: bool
    next_fold: int = 0

    def take(self) -> tuple[int, Any, Any, tuple[Any, Any]]:
        """The next fold: its index, its training x and y, and its validation data."""
        index = self.next_fold % len(self.folds)
        self.next_fold += 1
        train, validation = self.folds[index]
        return index, _rows(self.x, train), _rows(self.y, train), (_rows(self.x, validation), _rows(self.y, validation))


def _rows(data: Any, index: np.ndarray) -> Any:
    if isinstance(data, Mapping):  # a dict of named inputs
        return {k: _array_rows(v, index) for k, v in data.items()}
    if isinstance(data, (list, tuple)):  # several inputs
        return type(data)(_array_rows(v, index) for v in data)
    return _array_rows(data, index)


def _array_rows(array: Any, index: np.ndarray) -> Any:
    if hasattr(array, "tocsr"):  # SciPy sparse, which Keras takes as it is: its rows, still sparse
        return array.tocsr()[index]
    return np.asarray(array)[index]


def _is_classification(y: np.ndarray) -> bool:
    return y.ndim == 1 and (y.dtype.kind in "iubOSU")


def plan_cross_validation(
    cv: Any,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    *,
    oracle: kt.Oracle,
    executions_per_trial: int,
    seed: int,
) -> tuple[CrossValidation, tuple[Any, ...], dict[str, Any]]:
    """Checks a `cv=` request and makes its folds, before any training.

    Returns:
        The folds, and the fit arguments without `x`, `y` and `cv` (each fold gets its own).

    Raises:
        ValueError: For anything that can't be cross-validated, with how to fix it.
    """
    cv = _checked_request(cv, kwargs, oracle=oracle, executions_per_trial=executions_per_trial)
    x, y, n, rest, kwargs = _split_off_data(args, kwargs)
    labels = np.asarray(y)  # as many as x: `check_fit_arguments` saw to that
    folds, stratified = _make_folds(cv, n, labels, seed)
    return CrossValidation(x, y, folds, stratified), rest, kwargs


def _checked_request(cv: Any, kwargs: Mapping[str, Any], *, oracle: kt.Oracle, executions_per_trial: int) -> int:
    """The number of folds, once `cv` and the rest of the search's setup are checked to allow them.

    Raises:
        ValueError: For a `cv` that isn't a whole number of 2 or more, a Hyperband oracle, several executions
            per trial, or a validation argument of `fit`.
    """
    if not is_whole_number(cv) or cv < 2:
        raise ValueError(
            f"Expected `cv` to be a whole number of folds, 2 or more, received {shown(cv)}. "
            f"To fix, pass for example cv=5, or leave it out for a single validation split."
        )
    if isinstance(oracle, kt.oracles.HyperbandOracle):
        raise ValueError(
            "Expected an oracle that trains each trial from scratch with `cv`, received 'hyperband', which "
            "continues a trial from its parent's single best model, while a cross-validated trial has one "
            "model per fold. To fix, use oracle='random', 'bayesian' or 'grid' with cv."
        )
    if executions_per_trial > 1:
        raise ValueError(
            f"Expected executions_per_trial=1 with `cv`, received {executions_per_trial}: each fold already "
            f"trains its own model. To fix, leave executions_per_trial at 1 (or raise cv)."
        )
    clash = sorted({"validation_split", "validation_data"} & set(kwargs))
    if clash:
        raise ValueError(
            f"Expected no validation arguments with `cv`, received {clash}: the folds are the validation "
            f"data. To fix, drop {', '.join(clash)}."
        )
    return int(cv)  # NumPy's too


def _split_off_data(
    args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[Any, Any, int, tuple[Any, ...], dict[str, Any]]:
    """`x` and `y`, given by position or by name, how many examples they hold, and the fit arguments without them.

    Raises:
        ValueError: For an `x` or a `y` that isn't an array of examples (a dataset, a generator, missing).
    """
    rest = dict(kwargs)
    positional = list(args)
    x = positional.pop(0) if positional else rest.pop("x", None)
    y = positional.pop(0) if positional else rest.pop("y", None)
    n = example_count(x)
    if n is None or y is None or example_count(y) is None:
        raise ValueError(
            f"Expected arrays x and y with `cv`, received x of type {type(x).__name__} and y of type "
            f"{type(y).__name__}. To fix, pass NumPy arrays (a tf.data.Dataset or generator can't be split into "
            f"folds), or split the data yourself and drop cv."
        )
    return x, y, n, tuple(positional), rest


def _make_folds(cv: int, n: int, labels: np.ndarray, seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool]:
    """`cv` shuffled folds of `n` examples, stratified by class for classification labels; and whether they are.

    Raises:
        ValueError: For more folds than examples, or, stratified, than the examples of the smallest class.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    if cv > n:
        raise ValueError(
            f"Expected at most as many folds as examples, received cv={cv} for {n} examples. "
            f"To fix, pass cv={min(5, n)} or fewer."
        )
    stratified = _is_classification(labels)
    if stratified:
        smallest = int(np.unique(labels, return_counts=True)[1].min())
        if cv > smallest:
            raise ValueError(
                f"Expected every class to have at least cv={cv} examples for stratified folds, received a "
                f"class with {smallest}. To fix, pass cv={max(2, smallest)} or fewer, or gather more examples."
            )
        splitter: Any = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=cv, shuffle=True, random_state=seed)
    folds = [(train, validation) for train, validation in splitter.split(np.zeros(n), labels)]
    return folds, stratified
