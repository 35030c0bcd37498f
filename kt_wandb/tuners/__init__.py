"""The tuner and the oracle registry."""

from kt_wandb._records import RUN_RECORD
from kt_wandb.tuners._logger import WandbEpochLogger
from kt_wandb.tuners._memory import TrialMemory
from kt_wandb.tuners._oracles import ORACLES, make_oracle, planned_trials
from kt_wandb.tuners._tuner import WandbTuner

__all__ = [
    "ORACLES", "RUN_RECORD", "TrialMemory", "WandbEpochLogger", "WandbTuner", "make_oracle", "planned_trials",
]
