"""Successive halving (ASHA): at each rung, a trial outside the top share of those that reached it stops."""

from __future__ import annotations

import math

from kt_wandb.pruners._base import Curves, Pruner, check_count

__all__ = ["SuccessiveHalvingPruner"]


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

    Examples:
        >>> from kt_wandb import Curves, SuccessiveHalvingPruner
        >>> curves = Curves({"a": {0: .5}, "b": {0: .9}, "c": {0: .7}}, "max")
        >>> [SuccessiveHalvingPruner(min_epochs=1).prune(t, 0, curves) for t in "abc"]
        [True, False, True]
    """

    def __init__(self, min_epochs: int = 1, reduction_factor: int = 3) -> None:
        self.min_epochs = check_count("min_epochs", min_epochs, 1)
        self.reduction_factor = check_count("reduction_factor", reduction_factor, 2)

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
