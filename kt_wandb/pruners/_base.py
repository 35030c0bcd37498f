"""What every pruner shares: the trials' curves it judges by, the base class, and its arguments' check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kt_wandb._direction import Direction

__all__ = ["Curves", "Pruner", "check_count"]


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
        self._way = Direction(direction)

    def better(self, a: float, b: float) -> bool:
        """Whether `a` is strictly better than `b` in the objective's direction."""
        return self._way.better(a, b)

    def best(self, trial_id: str, epoch: int) -> float | None:
        """The trial's best objective up to `epoch` (included); None where it has none."""
        seen = [v for e, v in self.values.get(trial_id, {}).items() if e <= epoch]
        if not seen:
            return None
        return self._way.best(seen)

    def reached(self, epoch: int) -> list[str]:
        """The trials that have trained up to `epoch` (a value at it)."""
        return [trial_id for trial_id, curve in self.values.items() if epoch in curve]


class Pruner:
    """Decides whether a trial stops after an epoch.

    Subclasses implement `prune`. The oracle calls it after each epoch of a
    running trial, in one process or (in a distributed search) on the chief,
    with every trial's curve so far, running ones included. A stopped trial is
    completed with its best score so far.

    Examples:
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


def check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"Expected `{name}` to be an integer of at least {minimum}, received {value!r}. "
            f"To fix, pass a whole number such as {max(minimum, 1)}."
        )
    return value
