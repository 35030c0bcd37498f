"""The oracle registry: oracle names, their arguments, and how to build one."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import keras_tuner as kt

from kt_wandb.oracles._optuna import OptunaOracle, is_sampler

__all__ = [
    "DIVERGED", "ORACLES", "UnknownArgumentError", "forgive_divergence", "make_oracle",
    "oracle_name", "planned_trials", "resumable_grid",
]

# How the message of a trial failed by a diverging loss begins (`WandbTuner` raises it, the oracle reads it).
DIVERGED = "Expected a finite loss"

# Each name and what builds its oracle: KerasTuner's classes, and Optuna's samplers (needs kt-wandb[optuna]).
ORACLES: Mapping[str, Callable[..., kt.Oracle]] = {
    "random": kt.oracles.RandomSearchOracle,
    "hyperband": kt.oracles.HyperbandOracle,
    "bayesian": kt.oracles.BayesianOptimizationOracle,
    "grid": kt.oracles.GridSearchOracle,
    **{name: functools.partial(OptunaOracle, sampler=name) for name in ("tpe", "gp", "cmaes")},
}


class UnknownArgumentError(ValueError, TypeError):
    """An argument neither the oracle nor `kt.Tuner` takes: a `ValueError` as KerasTuner raises, and a `TypeError`."""


def _parameters(cls: Callable[..., Any]) -> set[str]:
    return {
        name
        for name, p in inspect.signature(cls).parameters.items()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and name != "sampler"
    }


# What `kt.Tuner.__init__` itself accepts; everything else belongs to the oracle.
TUNER_ARGUMENTS = frozenset(_parameters(kt.Tuner) - {"oracle", "hypermodel"})


def oracle_name(oracle: kt.Oracle) -> str:
    """The registry name of an oracle instance (an Optuna sampler's: "tpe"...), or its class name when unregistered."""
    if isinstance(oracle, OptunaOracle):
        return oracle.name
    for name, cls in ORACLES.items():
        if type(oracle) is cls:
            return name
    return type(oracle).__name__


def make_oracle(
    oracle: str | kt.Oracle,
    objective: Any,
    kwargs: dict[str, Any],
) -> tuple[kt.Oracle, dict[str, Any]]:
    """Builds the oracle and splits off the arguments meant for `kt.Tuner`.

    Args:
        oracle: A name from `ORACLES`, a ready `kt.Oracle` instance, or an
            Optuna sampler instance (it makes an `OptunaOracle`).
        objective: The objective, passed to a named oracle.
        kwargs: Every other keyword argument the tuner received.

    Returns:
        The oracle and the keyword arguments left for `kt.Tuner.__init__`.

    Raises:
        ValueError: For an unknown oracle name, or oracle arguments given
            beside an oracle instance.
        UnknownArgumentError: For an argument that neither the oracle nor the
            tuner takes (a `ValueError`, as KerasTuner raises, and a `TypeError`).
    """
    tuner_kwargs = {k: v for k, v in kwargs.items() if k in TUNER_ARGUMENTS}
    oracle_kwargs = {k: v for k, v in kwargs.items() if k not in TUNER_ARGUMENTS}

    if isinstance(oracle, kt.Oracle):
        given = sorted(oracle_kwargs) + (["objective"] if objective is not None else [])
        if given:
            raise ValueError(
                f"Expected oracle arguments either in the oracle instance or in "
                f"`WandbTuner(...)`, received both: an instance of "
                f"{type(oracle).__name__} and {given}. To fix, pass them to the "
                f"oracle's constructor, or pass `oracle` by name."
            )
        return oracle, tuner_kwargs

    cls, name = _factory(oracle)
    accepted = _parameters(cls)
    # Hyperband sizes itself from `max_epochs` and `factor`; `max_trials` caps it.
    max_trials = None
    if "max_trials" not in accepted and "max_trials" in oracle_kwargs:
        max_trials = oracle_kwargs.pop("max_trials")
    unknown = sorted(set(oracle_kwargs) - accepted)
    if unknown:
        raise UnknownArgumentError(
            f"Unrecognized arguments {unknown}. "  # KerasTuner's own words, for code that matches them
            f"Expected arguments of the {name!r} oracle "
            f"({sorted(accepted - {'objective'})}) or of `keras_tuner.Tuner` "
            f"({sorted(TUNER_ARGUMENTS)}), received {unknown}. To fix, check "
            f"the spelling or drop them."
        )
    instance = cls(objective=objective, **oracle_kwargs)
    if max_trials is not None:
        instance.max_trials = max_trials
    return instance, tuner_kwargs


def _factory(oracle: Any) -> tuple[Callable[..., kt.Oracle], str]:
    """What builds the oracle `oracle` names (or the `OptunaOracle` of a sampler instance), and its name."""
    if is_sampler(oracle):
        return functools.partial(OptunaOracle, sampler=oracle), type(oracle).__name__
    if not isinstance(oracle, str) or oracle.lower() not in ORACLES:
        raise ValueError(
            f"Expected `oracle` to be one of {sorted(ORACLES)}, a `keras_tuner.Oracle` or an Optuna sampler "
            f"instance, received {oracle!r}. To fix, pass one of those names, for example `oracle=\"random\"`."
        )
    return ORACLES[oracle.lower()], oracle.lower()


def forgive_divergence(oracle: kt.Oracle) -> None:
    """Makes `oracle` leave trials failed by a diverging loss out of its `max_consecutive_failed_trials` count.

    KerasTuner stops a search after that many failed trials in a row. A
    diverged trial is no failure of the search's code or data: it neither
    counts toward the limit nor resets the count. (In a distributed search the
    chief's oracle keeps the count.)
    """
    from kt_wandb._keras_tuner import TrialStatus, replace_failure_check

    def check_consecutive_failures() -> None:  # KerasTuner's `_check_consecutive_failures`, diverged trials left out
        failures = 0
        for trial_id in oracle.end_order:
            trial = oracle.trials[trial_id]
            if trial.status == TrialStatus.FAILED and DIVERGED in (trial.message or ""):
                continue
            failures = failures + 1 if trial.status == TrialStatus.FAILED else 0
            if failures == oracle.max_consecutive_failed_trials:
                raise RuntimeError(
                    f"Number of consecutive failures exceeded the limit of {oracle.max_consecutive_failed_trials}.\n"
                    + (trial.message or "")
                )

    replace_failure_check(oracle, check_consecutive_failures)


def resumable_grid(oracle: kt.Oracle) -> None:
    """Makes a grid oracle go on after a reload, where KerasTuner's stops with a `KeyError`.

    KerasTuner's `GridSearchOracle` keeps the grid order of its trials (a linked
    list) and the trials whose next combination is still to be found in memory
    only, not in its state: a resumed grid search fails at its first new trial
    (keras-tuner 1.4.8). Both are rebuilt from the reloaded trials: the trials
    sorted by the oracle's own grid order, and every ended one queued, as
    `end_trial` queues it (one whose next combination was tried is skipped).
    """
    if not isinstance(oracle, kt.oracles.GridSearchOracle):
        return
    reload = oracle.reload

    def reload_in_grid_order() -> None:
        from kt_wandb._keras_tuner import rebuild_grid_order

        reload()
        rebuild_grid_order(oracle)

    oracle.reload = reload_in_grid_order


def planned_trials(oracle: kt.Oracle) -> int | None:
    """How many trials the oracle will run, where that is known in advance."""
    if isinstance(oracle, kt.oracles.HyperbandOracle):
        from kt_wandb._keras_tuner import hyperband_schedule_size

        total = hyperband_schedule_size(oracle) * oracle.hyperband_iterations
        if oracle.max_trials:
            total = min(total, oracle.max_trials)
        return int(total) if total != float("inf") else None
    return int(oracle.max_trials) if oracle.max_trials else None
