"""The callbacks a trial's fit gets from the tuner: the epoch logger of its run, its length, and KerasTuner's bridge."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import keras_tuner as kt
import numpy as np

from kt_wandb._direction import Direction
from kt_wandb.tuners._keras_tuner import TunerCallback
from kt_wandb.tuners._logger import WandbEpochLogger
from kt_wandb.tuners._oracles import objective_parts
from kt_wandb.tuners._signals import Interruptions
from kt_wandb.tuners._tensorboard import HParamsSession
from kt_wandb.tuners._trial_run import TrialRun

__all__ = ["EpochTunerCallback", "FitLength", "TrialLogger", "without_batch_hooks"]


class EpochTunerCallback(TunerCallback):
    """KerasTuner's bridge from `fit` to the tuner's hooks, without its per-batch ones.

    When a callback has a batch hook, Keras converts every batch's logs to NumPy
    on the training thread, which waits for the device after each step: under
    JAX (and torch) that undoes the asynchronous dispatch that keeps a GPU fed.
    KerasTuner's bridge has them even though `Tuner.on_batch_begin` and
    `on_batch_end` do nothing; this one is used unless a subclass overrides them.
    """

    on_batch_begin = keras.callbacks.Callback.on_batch_begin
    on_batch_end = keras.callbacks.Callback.on_batch_end


class FitLength(keras.callbacks.Callback):
    """Tells the tuner the epochs of the fit in progress, as the fit has them (Keras's default, a HyperModel's own)."""

    def __init__(self, tuner: Any) -> None:
        super().__init__()
        self.tuner = tuner

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.tuner._fit_epochs = self.params.get("epochs")


def without_batch_hooks(tuner: kt.Tuner, callbacks: list[Any]) -> list[Any]:
    """`callbacks` with KerasTuner's bridge swapped for `EpochTunerCallback`, where the tuner has no batch hooks."""
    tuner_class = type(tuner)
    if any(getattr(tuner_class, hook) is not getattr(kt.Tuner, hook) for hook in ("on_batch_begin", "on_batch_end")):
        return callbacks
    return [
        EpochTunerCallback(c.tuner, c.trial) if type(c) is TunerCallback else c for c in callbacks
    ]


class TrialLogger(WandbEpochLogger):
    """Records each epoch in the trial's record, logs it to the W&B run and to TensorBoard where asked.

    Each execution or fold of a trial gets its own keys (`epoch/…`, or `execution_<i>/…`,
    `fold_<i>/…`) and its own TensorBoard HParams session.
    """

    def __init__(
        self,
        trial_run: TrialRun,
        *,
        trial_id: str,
        executions: int,
        objective: kt.Objective,
        tensorboard_dir: str | None,
        kind: str = "execution",
        check_objective: bool = False,
        interruptions: Interruptions | None = None,
    ) -> None:
        parts = objective_parts(objective)
        super().__init__(trial_run.run, summaries={part.name: part.direction for part in parts})
        self.trial_run = trial_run
        self.trial_id = trial_id
        self.executions = executions
        self.objective = objective
        self.tensorboard_dir = tensorboard_dir
        self.kind = kind
        self.check_objective = check_objective
        self.interruptions = interruptions or Interruptions()
        self.started = [0]  # shared by the copies KerasTuner makes per execution
        self.curve: list[dict[str, float]] = []
        self.session: HParamsSession | None = None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        index = self.started[0]
        self.started[0] += 1
        self.prefix = "epoch" if self.executions == 1 else f"{self.kind}_{index}"
        self.curve = []
        if self.trial_run.record.history is None:
            self.trial_run.record.history = []
        self.trial_run.record.history.append(self.curve)
        if self.tensorboard_dir is not None:
            self.session = HParamsSession(
                self.tensorboard_dir,
                self.trial_id,
                self.trial_run.config,
                part=self.prefix if self.executions > 1 else None,
            )
            self.trial_run.sessions.append(self.session)
        if self.trial_run.run is not None:
            super().on_train_begin(logs)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.interruptions.raise_pending()
        metrics = self.epoch_metrics(logs)
        self.curve.append({"epoch": epoch, **metrics})
        if self.check_objective and len(self.curve) == 1:
            self._check_objective(metrics)
        loss = metrics.get("loss")
        if loss is not None and not np.isfinite(loss) and self.trial_run.record.diverged is None:
            # Training on is time lost: stop, and let run_trial fail the trial with the reason.
            self.trial_run.record.diverged = {"epoch": epoch, "loss": loss, "part": self.prefix}
            self.model.stop_training = True
        if self.session is not None:
            self.session.scalars(epoch, metrics)
        if self._active is not None:
            self._log(epoch, metrics)

    def _best_epoch(self) -> tuple[float, int] | None:
        """The objective's best (value, epoch) in this fit, as KerasTuner scores it (several objectives: their sum,
        each signed by its direction, under the name `multi_objective`); None where no epoch has it finite."""
        parts = objective_parts(self.objective)
        values = [(float(self.objective.get_value(e)), int(e["epoch"])) for e in self.curve
                  if all(part.name in e for part in parts)]
        scored = [(value, epoch) for value, epoch in values if np.isfinite(value)]
        if not scored:
            return None
        return Direction(self.objective.direction).best(scored, key=lambda scored_epoch: scored_epoch[0])

    def _failed(self, exc: Exception) -> None:
        self._active = None
        self.trial_run.drop("log the epoch's metrics", exc)  # said once per search

    def _check_objective(self, metrics: Mapping[str, float]) -> None:
        """After the first epoch: is the objective among what the model reports? If not, stop the search now."""
        parts = objective_parts(self.objective)
        missing = [part.name for part in parts if part.name not in metrics]
        if missing:
            reported = sorted(name for name in metrics if name != "learning_rate")
            raise kt.errors.FatalValueError(
                f"Expected the objective {missing[0]!r} among the metrics the model reports, received "
                f"{reported}. To fix, pass one of those as objective=, or compile the model with that metric "
                f"(metrics=[...]); a 'val_' metric also needs validation data (validation_split= or "
                f"validation_data=)."
            )

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        super().on_train_end(logs)
        if self.session is None:
            return
        best = self._best_epoch()
        objective = (self.objective.name, *best) if best is not None else None
        self.session.end(succeeded=best is not None, objective=objective)
        self.trial_run.sessions.remove(self.session)
        self.session = None
