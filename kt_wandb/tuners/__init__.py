"""The tuner and the oracle registry."""

from kt_wandb._records import RUN_RECORD
from kt_wandb.pruners import PRUNERS, Curves, MedianPruner, Pruner, SuccessiveHalvingPruner
from kt_wandb.tuners._logger import WandbEpochLogger
from kt_wandb.tuners._memory import TrialMemory, frozen_heap
from kt_wandb.tuners._oracles import ORACLES, make_oracle, planned_trials
from kt_wandb.tuners._signals import SearchTerminated
from kt_wandb.tuners._tuner import WandbTuner

__all__ = [
    "ORACLES", "PRUNERS", "RUN_RECORD", "Curves", "MedianPruner", "Pruner", "SearchTerminated",
    "SuccessiveHalvingPruner", "TrialMemory",
    "WandbEpochLogger", "WandbTuner", "frozen_heap", "make_oracle", "planned_trials",
]
