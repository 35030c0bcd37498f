"""Oracles beyond KerasTuner's own: Optuna's samplers (`OptunaOracle`; needs `pip install 'kt-wandb[optuna]'`)."""

from __future__ import annotations

from kt_wandb.oracles._optuna import SAMPLERS, OptunaOracle

__all__ = ["SAMPLERS", "OptunaOracle"]
