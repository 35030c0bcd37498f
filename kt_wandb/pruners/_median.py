"""The median pruner: a trial worse than the median of the others at the same epoch stops."""

from __future__ import annotations

import statistics

from kt_wandb.pruners._base import Curves, Pruner, check_count

__all__ = ["MedianPruner"]


class MedianPruner(Pruner):
    """Stops a trial whose best objective so far is worse than the median of the others' at the same epoch.

    At epoch `e`, once at least `min_trials` other trials have trained as far,
    the trial stops when its best objective up to `e` is worse than the median
    of theirs up to `e`. The first `warmup_epochs` epochs are never judged.

    Args:
        warmup_epochs: Epochs every trial trains before it can be stopped.
        min_trials: Other trials that must have reached an epoch before any is stopped there.

    Examples:
        >>> from kt_wandb import Curves, MedianPruner
        >>> curves = Curves({"a": {0: .9, 1: .8}, "b": {0: .9, 1: .7}, "c": {0: .5, 1: .4}}, "max")
        >>> MedianPruner(warmup_epochs=1, min_trials=2).prune("c", 1, curves)
        True
    """

    def __init__(self, warmup_epochs: int = 1, min_trials: int = 4) -> None:
        self.warmup_epochs = check_count("warmup_epochs", warmup_epochs, 0)
        self.min_trials = check_count("min_trials", min_trials, 1)

    def prune(self, trial_id: str, epoch: int, curves: Curves) -> bool:
        if epoch < self.warmup_epochs:
            return False
        mine = curves.best(trial_id, epoch)
        others = [curves.best(other, epoch) for other in curves.reached(epoch) if other != trial_id]
        scores = [value for value in others if value is not None]
        if mine is None or len(scores) < self.min_trials:
            return False
        return curves.better(statistics.median(scores), mine)
