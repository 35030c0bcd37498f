"""Pruners: after each epoch of a trial, whether to stop it, judged from every trial's curve so far."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

__all__ = ["PRUNERS", "Curves", "MedianPruner", "Pruner", "SuccessiveHalvingPruner", "make_pruner"]


class Curves:
    """The objective of every trial of a search, epoch by epoch, as far as each has trained.

    `values[trial_id][epoch]` is the objective at that epoch (0-based, as Keras
    counts them); only finite values are kept. With several executions or
    cross-validation folds a trial is judged on each one in turn, against the
    same execution or fold of the other trials: the curves are those of one part.

    Args:
        values: Each trial's objective by epoch.
        direction: "min" or "max", the objective's direction.
    """

    def __init__(self, values: Mapping[str, Mapping[int, float]], direction: str) -> None:
        self.values = values
        self.direction = direction

    def better(self, a: float, b: float) -> bool:
        """Whether `a` is strictly better than `b` in the objective's direction."""
        return a > b if self.direction == "max" else a < b

    def best(self, trial_id: str, epoch: int) -> float | None:
        """The trial's best objective up to `epoch` (included); None where it has none."""
        seen = [v for e, v in self.values.get(trial_id, {}).items() if e <= epoch]
        if not seen:
            return None
        return max(seen) if self.direction == "max" else min(seen)

    def reached(self, epoch: int) -> list[str]:
        """The trials that have trained up to `epoch` (a value at it)."""
        return [trial_id for trial_id, curve in self.values.items() if epoch in curve]


class Pruner:
    """Decides whether a trial stops after an epoch.

    Subclasses implement `prune`. The oracle calls it after each epoch of a
    running trial, in one process or (in a distributed search) on the chief,
    with every trial's curve so far, running ones included. A stopped trial is
    completed with its best score so far.

    Example:
        >>> from kt_wandb import Curves, Pruner
        >>> class Threshold(Pruner):
        ...     '''Stops a trial whose accuracy after 3 epochs is under 0.5.'''
        ...     def prune(self, trial_id, epoch, curves):
        ...         best = curves.best(trial_id, epoch)
        ...         return epoch >= 2 and best is not None and best < 0.5
        >>> Threshold().prune("0", 2, Curves({"0": {0: 0.2, 1: 0.3, 2: 0.4}}, "max"))
        True
    """

    def prune(self, trial_id: str, epoch: int, curves: Curves) -> bool:
        """Whether trial `trial_id` stops after `epoch` (0-based).

        Args:
            trial_id: The trial just reported.
            epoch: The epoch it just ended; `curves.values[trial_id][epoch]` is its objective there.
            curves: Every trial's objective so far.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement prune(trial_id, epoch, curves)")

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({arguments})"


def _check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"Expected `{name}` to be an integer of at least {minimum}, received {value!r}. "
            f"To fix, pass a whole number such as {max(minimum, 1)}."
        )
    return value


class MedianPruner(Pruner):
    """Stops a trial whose best objective so far is worse than the median of the others' at the same epoch.

    At epoch `e`, once at least `min_trials` other trials have trained as far,
    the trial stops when its best objective up to `e` is worse than the median
    of theirs up to `e`. The first `warmup_epochs` epochs are never judged.

    Args:
        warmup_epochs: Epochs every trial trains before it can be stopped.
        min_trials: Other trials that must have reached an epoch before any is stopped there.

    Example:
        >>> from kt_wandb import Curves, MedianPruner
        >>> curves = Curves({"a": {0: .9, 1: .8}, "b": {0: .9, 1: .7}, "c": {0: .5, 1: .4}}, "max")
        >>> MedianPruner(warmup_epochs=1, min_trials=2).prune("c", 1, curves)
        True
    """

    def __init__(self, warmup_epochs: int = 1, min_trials: int = 4) -> None:
        self.warmup_epochs = _check_count("warmup_epochs", warmup_epochs, 0)
        self.min_trials = _check_count("min_trials", min_trials, 1)

    def prune(self, trial_id: str, epoch: int, curves: Curves) -> bool:
        if epoch < self.warmup_epochs:
            return False
        mine = curves.best(trial_id, epoch)
        others = [curves.best(other, epoch) for other in curves.reached(epoch) if other != trial_id]
        scores = [value for value in others if value is not None]
        if mine is None or len(scores) < self.min_trials:
            return False
        return curves.better(statistics.median(scores), mine)


class SuccessiveHalvingPruner(Pruner):
    """Asynchronous successive halving (ASHA): at each rung, only the top 1/`reduction_factor` go on.

    The rungs are at `min_epochs * reduction_factor**k` epochs trained (1, 3, 9,
    27, ... by default). A trial reaching a rung goes on only if its best
    objective so far ranks in the top `1/reduction_factor` of every trial that
    reached that rung (itself included; with fewer than `reduction_factor` of
    them, only the best goes on), as Optuna's and Ray Tune's ASHA decide.

    Args:
        min_epochs: Epochs trained at the first rung.
        reduction_factor: How much the field shrinks from one rung to the next (at least 2).

    Example:
        >>> from kt_wandb import Curves, SuccessiveHalvingPruner
        >>> curves = Curves({"a": {0: .5}, "b": {0: .9}, "c": {0: .7}}, "max")
        >>> [SuccessiveHalvingPruner(min_epochs=1).prune(t, 0, curves) for t in "abc"]
        [True, False, True]
    """

    def __init__(self, min_epochs: int = 1, reduction_factor: int = 3) -> None:
        self.min_epochs = _check_count("min_epochs", min_epochs, 1)
        self.reduction_factor = _check_count("reduction_factor", reduction_factor, 2)

    def is_rung(self, epoch: int) -> bool:
        """Whether `epoch` (0-based) ends a rung: `min_epochs * reduction_factor**k` epochs trained."""
        ratio = (epoch + 1) / self.min_epochs
        if ratio < 1 or ratio != int(ratio):
            return False
        k = round(math.log(ratio, self.reduction_factor))
        return bool(self.reduction_factor**k == int(ratio))

    def prune(self, trial_id: str, epoch: int, curves: Curves) -> bool:
        if not self.is_rung(epoch):
            return False
        mine = curves.best(trial_id, epoch)
        if mine is None:
            return False
        field = [value for t in curves.reached(epoch) if (value := curves.best(t, epoch)) is not None]
        keep = max(1, len(field) // self.reduction_factor)
        ahead = sum(curves.better(value, mine) for value in field)
        return ahead >= keep


PRUNERS: Mapping[str, type[Pruner]] = {"median": MedianPruner, "asha": SuccessiveHalvingPruner}


def make_pruner(pruner: str | Pruner | None) -> Pruner | None:
    """The pruner for `WandbTuner(pruner=...)`: None, a name from `PRUNERS` (default settings), or an instance."""
    if pruner is None or isinstance(pruner, Pruner):
        return pruner
    if isinstance(pruner, str) and pruner.lower() in PRUNERS:
        return PRUNERS[pruner.lower()]()
    raise ValueError(
        f"Expected `pruner` to be None, one of {sorted(PRUNERS)} or a `kt_wandb.Pruner` instance, received "
        f"{pruner!r}. To fix, pass pruner=\"median\" or \"asha\", or an instance such as "
        f"kt_wandb.MedianPruner(warmup_epochs=2)."
    )
