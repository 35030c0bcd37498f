"""kt-wandb: tune Keras models with KerasTuner, one Weights & Biases run per trial."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ORACLES", "PRUNERS", "Curves", "MedianPruner", "OptunaOracle", "Pruner", "SuccessiveHalvingPruner",
    "WandbEpochLogger", "WandbTuner", "__version__",
]
_DEFERRED = frozenset(__all__) - {"__version__"}
_PRUNING = frozenset({"PRUNERS", "Curves", "MedianPruner", "Pruner", "SuccessiveHalvingPruner"})
_ORACLES = frozenset({"OptunaOracle"})
__version__ = "0.1.0"

if TYPE_CHECKING:
    from kt_wandb.oracles import OptunaOracle
    from kt_wandb.pruners import PRUNERS, Curves, MedianPruner, Pruner, SuccessiveHalvingPruner
    from kt_wandb.tuners import ORACLES, WandbEpochLogger, WandbTuner


def __getattr__(name: str) -> Any:
    # Deferred, so that `kt-wandb --help` and `kt_wandb.data` need not import Keras.
    if name in _PRUNING:  # no Keras needed
        return getattr(importlib.import_module("kt_wandb.pruners"), name)
    if name in _ORACLES:
        return getattr(importlib.import_module("kt_wandb.oracles"), name)
    if name in _DEFERRED:
        return getattr(importlib.import_module("kt_wandb.tuners"), name)
    raise AttributeError(f"module 'kt_wandb' has no attribute {name!r}")
