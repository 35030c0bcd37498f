"""What `WandbTuner.__init__` decides before KerasTuner's own `__init__`: the hypermodel's check and the oracle."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

import keras_tuner as kt

from kt_wandb._log import logger
from kt_wandb._records import Summary, config_key, searched_values
from kt_wandb.pruners import Pruner, make_pruner
from kt_wandb.tuners._oracles import forgive_divergence, make_oracle, resumable_grid
from kt_wandb.tuners._pruning import EpochsOnly, enable_pruning, takes_epochs

__all__ = ["check_hypermodel", "panels_installed", "prepare_oracle", "say_renamed_hyperparameters"]


def check_hypermodel(hypermodel: Any, *, own_run_trial: bool) -> None:
    """KerasTuner's own rule: no hypermodel only where `run_trial` is overridden to build the model itself.

    (KerasTuner's check compares with `Tuner.run_trial`, which `WandbTuner` overrides.)
    """
    if hypermodel is None and not own_run_trial:
        raise ValueError(  # KerasTuner's own first words, for code that matches them
            "Received `hypermodel=None`. Expected a `hypermodel` (a function `hp -> compiled keras.Model`, or "
            "a `keras_tuner.HyperModel`). To fix, pass the function that builds the model, or subclass "
            "WandbTuner and override `run_trial` to build and train the model yourself."
        )


def _check_prunable(oracle: kt.Oracle, pruner: Any) -> None:
    if isinstance(oracle, kt.oracles.HyperbandOracle):
        raise ValueError(
            f"Expected no `pruner` with the Hyperband oracle, received pruner={pruner!r}. Hyperband already stops "
            f"trials early: most of its trials train for a few epochs, and only the best go on. To fix, drop "
            f"`pruner=`, or prune a random, Bayesian or grid search (oracle=\"random\")."
        )


def prepare_oracle(
    oracle: str | kt.Oracle, objective: Any, pruner: str | Pruner | None, kwargs: dict[str, Any], *,
    own_run_trial: bool,
) -> tuple[kt.Oracle, dict[str, Any], Pruner | None]:
    """The oracle, made or given, with kt-wandb's changes (divergence, a resumable grid, the pruner), the
    arguments left for `kt.Tuner`, and the pruner."""
    pruner_instance = make_pruner(pruner)
    oracle_instance, tuner_kwargs = make_oracle(oracle, objective, kwargs)
    forgive_divergence(oracle_instance)
    resumable_grid(oracle_instance)
    if pruner_instance is not None:
        _check_prunable(oracle_instance, pruner)
        enable_pruning(oracle_instance, pruner_instance)
        if own_run_trial:
            logger.warning("pruner= acts through KerasTuner's per-epoch hook (its TunerCallback): an overridden "
                           "run_trial that trains without super().run_trial, or without the callbacks it is "
                           "given, prunes nothing.")
    elif takes_epochs(oracle_instance):  # no pruner: the epochs still reach the oracle (Optuna's `report`)
        enable_pruning(oracle_instance, EpochsOnly())
    return oracle_instance, tuner_kwargs, pruner_instance


def say_renamed_hyperparameters(values: Mapping[str, Any], mode: str) -> None:
    """One line where W&B can't take some hyperparameter names as config keys, saying what they are logged as."""
    names = list(searched_values(values))
    renamed = [f"{n!r} as {config_key(n)!r}" for n in names if config_key(n) != n]
    if renamed and mode != "disabled":
        logger.warning(f"W&B can't take {len(renamed)} hyperparameter name(s) as config keys as they are; "
                       f"logged {', '.join(renamed)} (each run's summary maps them back under {Summary.HP_NAMES}; "
                       f"kt_wandb.analysis.hyperparameter_name undoes it).")


def panels_installed() -> bool:
    """Whether wandb-workspaces, which builds the W&B panels, is installed."""
    return importlib.util.find_spec("wandb_workspaces") is not None
