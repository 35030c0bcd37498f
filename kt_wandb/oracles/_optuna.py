"""`OptunaOracle`: Optuna's samplers (TPE, GP, CMA-ES) as a KerasTuner oracle, by ask-and-tell."""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import warnings
from typing import Any

import keras_tuner as kt

from kt_wandb._keras_tuner import holding, objective_parts
from kt_wandb.oracles._space import dimension, searched

__all__ = ["SAMPLERS", "OptunaOracle", "import_optuna", "is_sampler"]

# The samplers `OptunaOracle` builds by name, and the tag each search's runs get.
SAMPLERS = ("cmaes", "gp", "tpe")
_NAMES = {"TPESampler": "tpe", "GPSampler": "gp", "CmaEsSampler": "cmaes"}
_INSTALL = "pip install 'kt-wandb[optuna]'"


def import_optuna(purpose: str, extra: tuple[str, ...] = ()) -> Any:
    """Optuna (and the `extra` modules it needs for `purpose`), or an `ImportError` that says what to install."""
    missing = [name for name in ("optuna", *extra) if importlib.util.find_spec(name) is None]
    if missing:
        line = _INSTALL + "".join(f" {name}" for name in missing if name not in ("optuna", "cmaes"))
        raise ImportError(
            f"Expected {' and '.join(missing)} installed for {purpose}, received an environment without "
            f"{' and '.join(missing)}. To fix, run: {line}"
        )
    optuna = importlib.import_module("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # KerasTuner's display says each trial's end already
    return optuna


def is_sampler(value: Any) -> bool:
    """Whether `value` is an Optuna sampler (without importing Optuna: where it isn't imported, nothing is one)."""
    optuna = sys.modules.get("optuna")
    return optuna is not None and isinstance(value, optuna.samplers.BaseSampler)


def _sampler(name: str, seed: int, objectives: int) -> Any:
    """Optuna's sampler of that name, seeded; TPE multivariate, by groups (conditional spaces), constant liar."""
    if name == "cmaes" and objectives > 1:
        raise ValueError(
            f"Expected one objective with oracle=\"cmaes\", received {objectives}: CMA-ES optimizes a single "
            f"objective. To fix, use oracle=\"tpe\" or \"gp\" (multi-objective), or one objective."
        )
    extra = {"gp": ("torch",), "cmaes": ("cmaes",)}.get(name, ())
    optuna = import_optuna(f"oracle={name!r}", extra)
    if name == "tpe":
        with warnings.catch_warnings():  # `group` (conditional spaces) is still marked experimental in Optuna 5
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


class OptunaOracle(kt.Oracle):
    """A KerasTuner oracle whose trials an Optuna sampler chooses: TPE, GP, CMA-ES, or any `BaseSampler`.

    The oracle holds an Optuna study (in memory): each new trial is asked of
    it, one hyperparameter at a time as the search space's conditions allow
    (an inactive hyperparameter is neither asked for nor in the trial's
    values), and each ended trial is told: COMPLETE with its score (with
    several objectives, each objective's value: Optuna's multi-objective
    sampling), FAIL where it failed, PRUNED where kt-wandb's pruner stopped it,
    with the objective of each epoch it reported. Trials still running are
    what TPE's constant liar holds out, in a distributed search on the chief.
    The study is not saved: after a reload (a resumed search) it is rebuilt
    from the trials' files, so the sampler learns from every trial before.

    Args:
        sampler: "tpe" (multivariate, grouped for conditional spaces, with the
            constant liar), "gp" (needs torch), "cmaes", or an
            `optuna.samplers.BaseSampler` instance (used as given).
        objective: As KerasTuner's oracles take it; a list searches several.
        max_trials: The number of trials.
        hyperparameters: The search space, where given in advance.
        allow_new_entries: Whether the hypermodel may add hyperparameters.
        tune_new_entries: Whether those are searched.
        seed: Seeds a sampler given by name.
        max_retries_per_trial: As KerasTuner's oracles.
        max_consecutive_failed_trials: As KerasTuner's oracles.

    Example:
        >>> import keras_tuner as kt
        >>> from kt_wandb import OptunaOracle
        >>> hp = kt.HyperParameters()
        >>> _ = hp.Float("lr", 1e-4, 1e-1, sampling="log")
        >>> oracle = OptunaOracle("tpe", objective="loss", max_trials=3, hyperparameters=hp, seed=1)
        >>> oracle.name, type(oracle.sampler).__name__
        ('tpe', 'TPESampler')
    """

    def __init__(
        self,
        sampler: Any = "tpe",
        objective: Any = None,
        max_trials: int | None = 10,
        hyperparameters: kt.HyperParameters | None = None,
        allow_new_entries: bool = True,
        tune_new_entries: bool = True,
        seed: int | None = None,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
    ) -> None:
        super().__init__(
            objective=objective, max_trials=max_trials, hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries, tune_new_entries=tune_new_entries, seed=seed,
            max_retries_per_trial=max_retries_per_trial, max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self._parts = objective_parts(self.objective)
        self.sampler, self.name = self._make_sampler(sampler)
        self._study: Any = None  # made, or rebuilt from the trials, at its first use
        self._asked: dict[str, Any] = {}  # KerasTuner trial id -> Optuna's trial, while it runs
        self._told: set[str] = set()
        self.intermediate: dict[str, dict[int, float]] = {}  # trial id -> epoch -> objective
        self.pruned: set[str] = set()

    def _make_sampler(self, sampler: Any) -> tuple[Any, str]:
        if isinstance(sampler, str) and sampler.lower() in SAMPLERS:
            return _sampler(sampler.lower(), self.seed, len(self._parts)), sampler.lower()
        if is_sampler(sampler):
            return sampler, _NAMES.get(type(sampler).__name__, type(sampler).__name__)
        raise ValueError(
            f"Expected `sampler` to be one of {list(SAMPLERS)} or an `optuna.samplers.BaseSampler` instance, "
            f"received {sampler!r}. To fix, pass one of those names, for example \"tpe\"."
        )

    @property
    def study(self) -> Any:
        """The Optuna study: every ended trial told, the running ones asked."""
        if self._study is None:
            optuna = import_optuna("OptunaOracle")
            directions = ["maximize" if part.direction == "max" else "minimize" for part in self._parts]
            self._study = optuna.create_study(sampler=self.sampler, directions=directions)
            self._asked = {}
            self._told = set()
            for trial_id in self.end_order:
                self._tell(self.trials[trial_id])
        return self._study

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        asked = self.study.ask()
        hps = kt.HyperParameters()
        for hp in self.hyperparameters.space:
            hps.merge([hp])
            if not hps.is_active(hp):
                continue
            dim = dimension(hp)
            hps.values[hp.name] = hp.value if dim is None else dim.decode(_suggest(asked, hp.name, dim.distribution))
        self._asked[trial_id] = asked
        return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": hps.values}

    @property
    def takes_epochs(self) -> bool:
        """Whether it learns from each epoch's objective: with one objective (Optuna's `report` takes one)."""
        return len(self._parts) == 1

    def observe_epoch(self, trial_id: str, epoch: int, value: float, stop: bool) -> None:
        """Takes a trial's objective at an epoch (from kt-wandb's pruning) and the pruner's decision."""
        if stop:
            self.pruned.add(trial_id)
        curve = self.intermediate.setdefault(trial_id, {})
        if len(self._parts) > 1 or epoch in curve or not math.isfinite(value):  # Optuna: one objective, once a step
            return
        curve[epoch] = value
        if trial_id in self._asked:
            self._asked[trial_id].report(value, epoch)

    def end_trial(self, trial: Any) -> None:
        with holding(self):  # KerasTuner's lock, given back even where `end_trial` raises
            try:
                super().end_trial(trial)
            finally:
                self._tell(self.trials[trial.trial_id])

    def _tell(self, trial: Any) -> None:
        """Tells the study how a trial ended (once): the trial asked, or one it never saw (before a reload)."""
        study = self.study
        state, values = self._outcome(trial)
        if state is None or trial.trial_id in self._told:
            return
        self._told.add(trial.trial_id)
        asked = self._asked.pop(trial.trial_id, None)
        if asked is not None:
            study.tell(asked, values, state=state)
            return
        optuna = import_optuna("OptunaOracle")
        curve = self.intermediate.get(trial.trial_id, {})
        if state == optuna.trial.TrialState.PRUNED and curve:
            values = [curve[max(curve)]]
        params = {hp.name: dim.encode(trial.hyperparameters.values[hp.name])
                  for hp, dim in searched(trial.hyperparameters)}
        distributions = {hp.name: dim.distribution for hp, dim in searched(trial.hyperparameters)}
        study.add_trial(optuna.trial.create_trial(
            state=state, values=values, params=params, distributions=distributions, intermediate_values=curve,
        ))

    def _outcome(self, trial: Any) -> tuple[Any, list[float] | None]:
        """Optuna's state for a KerasTuner trial's, and its values; (None, None) for a trial not ended."""
        from optuna.trial import TrialState

        status = kt.engine.trial.TrialStatus
        if trial.trial_id not in self.end_order or trial.status not in (status.COMPLETED, status.FAILED):
            return None, None
        if trial.status == status.FAILED:
            return TrialState.FAIL, None
        if trial.trial_id in self.pruned:
            return TrialState.PRUNED, None
        if len(self._parts) == 1:
            values = [trial.score]
        else:
            values = [trial.metrics.get_best_value(part.name) for part in self._parts]
        if any(v is None or not math.isfinite(v) for v in values):
            return TrialState.FAIL, None
        return TrialState.COMPLETE, [float(v) for v in values]

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state["optuna"] = {"intermediate": self.intermediate, "pruned": sorted(self.pruned)}
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        saved = state.get("optuna") or {}
        self.intermediate = {t: {int(e): v for e, v in c.items()} for t, c in saved.get("intermediate", {}).items()}
        self.pruned = set(saved.get("pruned", []))
        self._study = None  # rebuilt from the reloaded trials at its next use


def _suggest(trial: Any, name: str, distribution: Any) -> Any:
    """Asks Optuna's trial for a value of `distribution`, through its public `suggest_*`."""
    from optuna import distributions as d

    if isinstance(distribution, d.CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, d.IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, step=distribution.step,
                                 log=distribution.log)
    return trial.suggest_float(name, distribution.low, distribution.high, step=distribution.step, log=distribution.log)
