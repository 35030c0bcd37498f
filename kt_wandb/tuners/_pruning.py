"""Pruning through the oracle: each epoch's objective goes in through `update_trial`, the decision comes back.

KerasTuner left the place for it: `Oracle.update_trial` returns the trial, and a
trial whose status comes back `STOPPED` is to stop ("To signal early stopping,
set Trial.status to STOPPED"). The tuner reports the objective after each epoch
with `PART_KEY` among the metrics: that marks an epoch's report (and says which
execution or fold it is), which the oracle keeps apart from the trial's results
(so KerasTuner's own end-of-trial report, and the score, are untouched). In
KerasTuner's distributed mode the report travels over gRPC as any
`update_trial` does: the chief decides, from every worker's trials.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import keras_tuner as kt

from kt_wandb._keras_tuner import Trial, TrialStatus, objective_parts, trial_dir, trials_dir
from kt_wandb._log import logger
from kt_wandb._records import PRUNING_RECORD, read_json, write_json
from kt_wandb.pruners import Curves, Pruner

__all__ = ["LAST_KEY", "PART_KEY", "EpochsOnly", "PrunerError", "enable_pruning", "report_epoch", "takes_epochs"]

# Among an epoch report's metrics: the execution's (or fold's) index. Never a metric of the trial.
PART_KEY = "kt_wandb/part"
# Among an epoch report's metrics where the epoch ends the trial anyway: recorded for the others, not judged.
LAST_KEY = "kt_wandb/last"


_MARKERS = (PART_KEY, LAST_KEY)


class EpochsOnly(Pruner):
    """Prunes nothing: with no `pruner=`, each epoch's objective still reaches an oracle that learns from it."""

    def prune(self, trial_id: str, epoch: int, curves: Curves) -> bool:
        return False


def takes_epochs(oracle: kt.Oracle) -> bool:
    """Whether the oracle learns from each epoch's objective, pruner or not (`OptunaOracle.takes_epochs`)."""
    return bool(getattr(oracle, "takes_epochs", False))


class PrunerError(RuntimeError):
    """The pruner raised: the trial it judged fails, the search goes on."""


class _Pruning:
    """The oracle's pruning state: every trial's curve per part, and the decisions made."""

    def __init__(self, oracle: kt.Oracle, pruner: Pruner) -> None:
        self.oracle = oracle
        self.pruner = pruner
        self.update_trial = oracle.update_trial  # the oracle's own, for the trials' results
        self.curves: dict[int, dict[str, dict[int, float]]] | None = None  # read from disk at first use
        self.pruned: dict[str, tuple[int, int]] = {}  # trial id -> (part, epoch)

    def route(self, trial_id: str, metrics: Mapping[str, float], step: int = 0) -> Trial:
        if PART_KEY not in metrics:
            return self.update_trial(trial_id, metrics, step)
        return self.report(trial_id, metrics, int(step))

    def report(self, trial_id: str, metrics: Mapping[str, float], epoch: int) -> Trial:
        """Takes an epoch's objective, decides, and answers with the trial (`STOPPED` where it is to stop)."""
        curves = self._load()
        trial = self.oracle.trials[trial_id]
        part = int(metrics[PART_KEY])
        self._forget_later(trial_id, part, epoch, curves)
        value = float(self.oracle.objective.get_value({k: v for k, v in metrics.items() if k not in _MARKERS}))
        if math.isfinite(value):
            curves[part][trial_id][epoch] = value
        if math.isfinite(value) and not metrics.get(LAST_KEY):
            stop = self._decide(trial_id, part, epoch, curves[part])
        else:  # the trial ends here anyway, or has no objective to judge (a NaN val_ metric)
            decided = self.pruned.get(trial_id)
            stop = decided is not None and (part, epoch) >= decided
        observe = getattr(self.oracle, "observe_epoch", None)  # an oracle that learns from the curves too (Optuna's)
        if observe is not None:
            observe(trial_id, epoch, value, stop)
        self._save(trial_id, curves)
        if not stop:
            return trial
        answer = copy.copy(trial)
        answer.status = TrialStatus.STOPPED
        return answer

    @staticmethod
    def _forget_later(trial_id: str, part: int, epoch: int, curves: dict[int, dict[str, dict[int, float]]]) -> None:
        """Drops what an earlier attempt at the trial (crashed, or retried) reported from here on."""
        curve = curves.setdefault(part, {}).setdefault(trial_id, {})
        for later in [e for e in curve if e >= epoch]:
            del curve[later]
        for later_part in [p for p in curves if p > part]:
            curves[later_part].pop(trial_id, None)

    def _decide(self, trial_id: str, part: int, epoch: int, values: dict[str, dict[int, float]]) -> bool:
        decided = self.pruned.get(trial_id)
        if decided is not None and (part, epoch) >= decided:  # decided before a crash: kept
            return True
        try:
            stop = bool(self.pruner.prune(trial_id, epoch, Curves(values, self.oracle.objective.direction)))
        except Exception as exc:
            raise PrunerError(
                f"Expected the pruner {self.pruner!r} to decide on trial {trial_id} after epoch {epoch}, "
                f"received {type(exc).__name__}: {exc}. The trial fails (it counts toward "
                f"max_consecutive_failed_trials) and the search goes on; to fix, "
                f"correct the pruner's `prune` method."
            ) from exc
        if stop:
            self.pruned[trial_id] = (part, epoch)
        return stop

    def _load(self) -> dict[int, dict[str, dict[int, float]]]:
        """The curves and decisions so far: those the oracle's `pruning.json` files hold, at first use."""
        if self.curves is None:
            self.curves = {}
            for path in sorted(trials_dir(self.oracle).glob(f"trial_*/{PRUNING_RECORD}")):
                record = read_json(path)
                trial_id = str(record.get("trial_id", path.parent.name.removeprefix("trial_")))
                for part, curve in (record.get("curves") or {}).items():
                    self.curves.setdefault(int(part), {})[trial_id] = {int(e): v for e, v in curve.items()}
                if record.get("pruned"):
                    part, epoch = record["pruned"]
                    self.pruned[trial_id] = (int(part), int(epoch))
        return self.curves

    def _save(self, trial_id: str, curves: dict[int, dict[str, dict[int, float]]]) -> None:
        record: dict[str, Any] = {
            "trial_id": trial_id,
            "curves": {str(part): values[trial_id] for part, values in curves.items() if trial_id in values},
            "pruned": list(self.pruned[trial_id]) if trial_id in self.pruned else None,
        }
        try:
            write_json(trial_dir(self.oracle, trial_id) / PRUNING_RECORD, record)
        except OSError as exc:  # the decisions stand in memory; a resume after a crash may judge this trial anew
            logger.warning(f"could not record trial {trial_id}'s pruning ({type(exc).__name__}: {exc}).")


def enable_pruning(oracle: kt.Oracle, pruner: Pruner) -> None:
    """Makes `oracle.update_trial` take epoch reports (metrics with `PART_KEY`) and answer with the pruner's decision.

    Any other `update_trial` (a trial's result) goes to the oracle's own. In
    a distributed search, the chief's oracle is the one that decides.
    """
    oracle.update_trial = _Pruning(oracle, pruner).route


def report_epoch(
    oracle: Any, trial_id: str, objective: kt.Objective, *, part: int, epoch: int, logs: Mapping[str, Any] | None,
    last: bool = False,
) -> bool:
    """Reports an epoch's objective to the oracle (local, or the chief's); whether the trial is to stop.

    An epoch without every objective in its logs (`validation_freq` > 1) is not reported. The `last` epoch
    of a trial (it ends there anyway) is recorded for the other trials' judging, and not judged itself.
    """
    names = [part.name for part in objective_parts(objective)]
    logs = logs or {}
    if not all(name in logs for name in names):
        return False
    metrics = {name: float(logs[name]) for name in names}
    metrics[PART_KEY] = float(part)
    if last:
        metrics[LAST_KEY] = 1.0
    answer = oracle.update_trial(trial_id, metrics, step=epoch)
    if answer.metrics.exists(PART_KEY):
        raise kt.errors.FatalError(
            "Expected the chief to take each epoch's report, as this worker sends them (for its `pruner=`, or "
            "its Optuna oracle), received its plain KerasTuner answer. To fix, run the chief with the same "
            "script and arguments as the workers (as `kt-wandb launch` does)."
        )
    return bool(answer.status == TrialStatus.STOPPED)
