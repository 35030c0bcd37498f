"""A Keras callback that logs each epoch to a W&B run, on every Keras backend."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from kt_wandb._log import logger

__all__ = ["WandbEpochLogger", "epoch_metrics"]


def _scalar(value: Any) -> float | None:
    """The value as a float, or None where it is no scalar."""
    try:
        array = np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:
        return None
    if array.size != 1 or not np.issubdtype(array.dtype, np.number):
        return None
    return float(array.reshape(()))


def _learning_rate(model: Any) -> float | None:
    optimizer = getattr(model, "optimizer", None)
    rate = getattr(optimizer, "learning_rate", None)
    if rate is None:
        return None
    number = _scalar(rate)
    return number if number is not None and math.isfinite(number) else None


def epoch_metrics(logs: Mapping[str, Any] | None, model: Any = None) -> dict[str, float]:
    """An epoch's scalar metrics as floats, with `model`'s learning rate where a model is given."""
    metrics = {}
    for name, value in (logs or {}).items():
        number = _scalar(value)
        if number is not None:
            metrics[name] = number
    if model is not None:
        rate = _learning_rate(model)
        if rate is not None:
            metrics["learning_rate"] = rate
    return metrics


class WandbEpochLogger(keras.callbacks.Callback):
    """Logs each epoch's metrics to a W&B run under `<prefix>/<metric>`.

    Unlike wandb's own Keras callbacks it imports no TensorFlow, so it works
    under the TensorFlow, JAX and torch backends. Every key gets the explicit
    step metric `<prefix>/epoch` (the absolute epoch, so a fit that starts at
    `initial_epoch` continues the axis), which also keeps several fits in one
    run apart: give each its own prefix.

    Args:
        run: The `wandb` run to log to. With None, the active `wandb.run` at the
            start of training, and nothing is logged where there is none.
        prefix: The namespace of the keys.
        summaries: Metric name to summary ("min", "max", ...) for the W&B summary
            of `<prefix>/<metric>`, for example `{"val_loss": "min"}`.
        log_learning_rate: Also log the optimizer's learning rate.

    Examples:
        >>> import keras, numpy as np, wandb
        >>> from kt_wandb import WandbEpochLogger
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> with wandb.init(mode="disabled") as run:
        ...     _ = model.fit(np.ones((8, 4)), np.ones(8), epochs=2, verbose=0,
        ...                   callbacks=[WandbEpochLogger(run)])
    """

    def __init__(
        self,
        run: Any = None,
        *,
        prefix: str = "epoch",
        summaries: Mapping[str, str] | None = None,
        log_learning_rate: bool = True,
    ) -> None:
        super().__init__()
        if not prefix or "/" in prefix:
            raise ValueError(
                f"Expected `prefix` to be a non-empty name without '/', received "
                f"{prefix!r}. To fix, pass a plain name such as 'epoch' or 'fold_0'."
            )
        self.run = run
        self.prefix = prefix
        self.summaries = dict(summaries or {})
        self.log_learning_rate = log_learning_rate
        self._active: Any = None

    def __deepcopy__(self, memo: dict[int, Any]) -> WandbEpochLogger:
        # KerasTuner deep-copies callbacks for every execution; a W&B run can't
        # be copied, and needn't be: the copy logs to the same run.
        new = copy.copy(self)
        new._active = None
        return new

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        import wandb

        self._active = self.run if self.run is not None else wandb.run
        if self._active is None:
            return
        step = f"{self.prefix}/epoch"
        try:
            self._active.define_metric(step, hidden=True)
            self._active.define_metric(f"{self.prefix}/*", step_metric=step)
            for name, summary in self.summaries.items():
                self._active.define_metric(f"{self.prefix}/{name}", step_metric=step, summary=summary)
        except Exception as exc:  # W&B failing must not cost the training
            self._failed(exc)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._active is not None:
            self._log(epoch, self.epoch_metrics(logs))

    def epoch_metrics(self, logs: Mapping[str, Any] | None) -> dict[str, float]:
        """The epoch's scalar metrics as floats, with the learning rate where asked for."""
        return epoch_metrics(logs, self.model if self.log_learning_rate else None)

    def _log(self, epoch: int, metrics: Mapping[str, float]) -> None:
        data: dict[str, float] = {f"{self.prefix}/{name}": value for name, value in metrics.items()}
        data[f"{self.prefix}/epoch"] = epoch
        try:
            self._active.log(data)
        except Exception as exc:  # W&B failing mid-training must not cost the training
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        """W&B failed (its service died, say): log nothing more to this run, and say so."""
        self._active = None
        logger.warning(
            f"W&B stopped taking this run's metrics ({type(exc).__name__}: {exc}); training goes on without them."
        )

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._active = None

