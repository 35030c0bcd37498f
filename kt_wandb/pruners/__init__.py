"""Pruners: after each epoch of a trial, whether to stop it, judged from every trial's curve so far.

Each pruner is a module of its own beside the base class (`_base`); the registry of the names
`WandbTuner(pruner=...)` takes is here. Imports nothing from Keras or the tuners.
"""

from __future__ import annotations

from collections.abc import Mapping

from kt_wandb.pruners._base import Curves, Pruner
from kt_wandb.pruners._halving import SuccessiveHalvingPruner
from kt_wandb.pruners._median import MedianPruner

__all__ = ["PRUNERS", "Curves", "MedianPruner", "Pruner", "SuccessiveHalvingPruner", "make_pruner"]

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
