"""The callbacks a trial's fit gets from the tuner: one job each, sharing the trial's `TrialParts`.

`trial_callbacks` gives them in the order they must run at each epoch: the
pending interruption, the epoch's record (which converts the metrics once for
all), the objective check, the divergence stop, the W&B run, TensorBoard.
`FitLength` tells the tuner the fit's epochs, and `EpochTunerCallback` is
KerasTuner's bridge without its per-batch hooks.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import keras
import keras_tuner as kt
import numpy as np

from kt_wandb._direction import Direction
from kt_wandb._keras_tuner import TunerCallback, objective_parts
from kt_wandb.tuners._logger import WandbEpochLogger, epoch_metrics
from kt_wandb.tuners._signals import Interruptions
from kt_wandb.tuners._tensorboard import HParamsSession
from kt_wandb.tuners._trial_run import TrialRun

__all__ = [
    "DivergenceStop", "EpochRecorder", "EpochTunerCallback", "FitLength", "ObjectiveCheck", "RunEpochLogger",
    "TensorBoardParts", "TrialParts", "trial_callbacks", "without_batch_hooks",
]


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


class TrialParts:
    """A trial's fits (its executions, or folds) as its callbacks see them: which one trains, and its epochs.

    KerasTuner deep-copies the callbacks for each execution; the copies share this object.
    """

    def __init__(self, trial_run: TrialRun, *, count: int, kind: str = "execution") -> None:
        self.trial_run = trial_run
        self.count = count
        self.kind = kind
        self.started = 0
        self.prefix = "epoch"
        self.curve: list[dict[str, float]] = []
        self.metrics: dict[str, float] = {}  # the epoch's, converted once by EpochRecorder

    def begin(self) -> None:
        """The next fit begins: its keys' prefix (`epoch`, or `execution_<i>`, `fold_<i>`) and a new curve."""
        self.prefix = "epoch" if self.count == 1 else f"{self.kind}_{self.started}"
        self.started += 1
        self.curve = []
        if self.trial_run.record.history is None:
            self.trial_run.record.history = []
        self.trial_run.record.history.append(self.curve)


class _PartCallback(keras.callbacks.Callback):
    """A callback of the trial's: its copies (one per execution) share the trial's parts."""

    def __init__(self, parts: TrialParts) -> None:
        super().__init__()
        self.parts = parts

    def __deepcopy__(self, memo: dict[int, Any]) -> _PartCallback:
        return copy.copy(self)


class EpochRecorder(_PartCallback):
    """Each epoch's metrics, converted once, in the trial's record; a pending Ctrl-C or SIGTERM raised first."""

    def __init__(self, parts: TrialParts, interruptions: Interruptions) -> None:
        super().__init__(parts)
        self.interruptions = interruptions

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.parts.begin()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.interruptions.raise_pending()
        self.parts.metrics = epoch_metrics(logs, self.model)
        self.parts.curve.append({"epoch": epoch, **self.parts.metrics})


class ObjectiveCheck(_PartCallback):
    """After a fit's first epoch: is the objective among what the model reports? If not, the search stops now."""

    def __init__(self, parts: TrialParts, objective: kt.Objective) -> None:
        super().__init__(parts)
        self.objective = objective

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if len(self.parts.curve) != 1:
            return
        metrics = self.parts.metrics
        missing = [part.name for part in objective_parts(self.objective) if part.name not in metrics]
        if missing:
            reported = sorted(name for name in metrics if name != "learning_rate")
            raise kt.errors.FatalValueError(
                f"Expected the objective {missing[0]!r} among the metrics the model reports, received "
                f"{reported}. To fix, pass one of those as objective=, or compile the model with that metric "
                f"(metrics=[...]); a 'val_' metric also needs validation data (validation_split= or "
                f"validation_data=)."
            )


class DivergenceStop(_PartCallback):
    """Stops training at the first non-finite loss, and records where: training on is time lost (`run_trial`
    then fails the trial with the reason, or keeps the best score it reached)."""

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        loss = self.parts.metrics.get("loss")
        record = self.parts.trial_run.record
        if loss is not None and not np.isfinite(loss) and record.diverged is None:
            record.diverged = {"epoch": epoch, "loss": loss, "part": self.parts.prefix}
            self.model.stop_training = True


class RunEpochLogger(WandbEpochLogger):
    """Logs each epoch to the trial's W&B run under the fit's prefix; a W&B failure drops the run (said once)."""

    def __init__(self, parts: TrialParts, objective: kt.Objective) -> None:
        summaries = {part.name: part.direction for part in objective_parts(objective)}
        super().__init__(parts.trial_run.run, summaries=summaries)
        self.parts = parts

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.prefix = self.parts.prefix
        if self.parts.trial_run.run is not None:
            super().on_train_begin(logs)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._active is not None:
            self._log(epoch, self.parts.metrics)

    def _failed(self, exc: Exception) -> None:
        self._active = None
        self.parts.trial_run.drop("log the epoch's metrics", exc)  # said once per search


class TensorBoardParts(_PartCallback):
    """One TensorBoard HParams session per fit: the trial's hyperparameters, each epoch's scalars, and the
    objective at its best epoch."""

    def __init__(self, parts: TrialParts, *, logdir: str, trial_id: str, objective: kt.Objective) -> None:
        super().__init__(parts)
        self.logdir = logdir
        self.trial_id = trial_id
        self.objective = objective
        self.session: HParamsSession | None = None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        trial_run = self.parts.trial_run
        part = self.parts.prefix if self.parts.count > 1 else None
        self.session = HParamsSession(self.logdir, self.trial_id, trial_run.config, part=part)
        trial_run.sessions.append(self.session)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.session is not None:
            self.session.scalars(epoch, self.parts.metrics)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self.session is None:
            return
        best = self._best_epoch()
        objective = (self.objective.name, *best) if best is not None else None
        self.session.end(succeeded=best is not None, objective=objective)
        self.parts.trial_run.sessions.remove(self.session)
        self.session = None

    def _best_epoch(self) -> tuple[float, int] | None:
        """The objective's best (value, epoch) in this fit, as KerasTuner scores it (several objectives: their sum,
        each signed by its direction, under the name `multi_objective`); None where no epoch has it finite."""
        parts = objective_parts(self.objective)
        values = [(float(self.objective.get_value(e)), int(e["epoch"])) for e in self.parts.curve
                  if all(part.name in e for part in parts)]
        scored = [(value, epoch) for value, epoch in values if np.isfinite(value)]
        if not scored:
            return None
        return Direction(self.objective.direction).best(scored, key=lambda scored_epoch: scored_epoch[0])


def trial_callbacks(
    trial_run: TrialRun,
    *,
    trial_id: str,
    count: int,
    objective: kt.Objective,
    tensorboard_dir: str | None,
    kind: str = "execution",
    check_objective: bool = False,
    interruptions: Interruptions | None = None,
) -> list[keras.callbacks.Callback]:
    """The callbacks of a trial's fits, in the order they run at each epoch.

    Args:
        trial_run: The trial's run and record.
        trial_id: The trial's id (TensorBoard's session names).
        count: How many fits the trial makes (executions, or folds).
        objective: KerasTuner's objective.
        tensorboard_dir: Where TensorBoard's HParams sessions go; None: none.
        kind: "execution", or "fold" under cross-validation.
        check_objective: Check after the first epoch that the model reports the objective.
        interruptions: The search's pending Ctrl-C or SIGTERM, raised at each epoch's end.
    """
    parts = TrialParts(trial_run, count=count, kind=kind)
    callbacks: list[keras.callbacks.Callback] = [EpochRecorder(parts, interruptions or Interruptions())]
    if check_objective:
        callbacks.append(ObjectiveCheck(parts, objective))
    callbacks += [DivergenceStop(parts), RunEpochLogger(parts, objective)]
    if tensorboard_dir is not None:
        callbacks.append(TensorBoardParts(parts, logdir=tensorboard_dir, trial_id=trial_id, objective=objective))
    return callbacks
