"""TensorBoard HParams for a search, written with TensorBoard's own writer: no TensorFlow needed.

The search writes the experiment (`hparams_config`: each hyperparameter's domain
and the metrics) at its root once per `search()`, and every trial (every
execution or fold) is one HParams session in `<logdir>/<trial id>[/execution_<i> | /fold_<i>]`: its
hyperparameters, its per-epoch scalars `epoch/<metric>`, and its objective
under the objective's own name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

import keras_tuner as kt
import numpy as np

__all__ = ["HParamsSession", "domains", "write_experiment"]


def _writer(logdir: str) -> Any:
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    return EventFileWriter(logdir)


def _write(writer: Any, summary: Any, step: int = 0) -> None:
    from tensorboard.compat.proto import event_pb2

    writer.add_event(event_pb2.Event(summary=summary, step=step, wall_time=time.time()))


def domains(space: kt.HyperParameters) -> list[Any]:
    """The KerasTuner search space as HParams: Choice and Boolean discrete, Int and Float intervals
    (discrete values where stepped), Fixed a single value."""
    from tensorboard.plugins.hparams import summary_v2 as hp_api

    result = []
    for hp in space.space:
        config = hp.get_config()
        if isinstance(hp, kt.engine.hyperparameters.Choice):
            domain = hp_api.Discrete(list(config["values"]))
        elif isinstance(hp, kt.engine.hyperparameters.Boolean):
            domain = hp_api.Discrete([False, True])
        elif isinstance(hp, kt.engine.hyperparameters.Fixed):
            domain = hp_api.Discrete([config["value"]])
        elif isinstance(hp, kt.engine.hyperparameters.Int):
            step = config.get("step") or 1
            domain = (
                hp_api.Discrete(list(range(config["min_value"], config["max_value"] + 1, step)))
                if step != 1
                else hp_api.IntInterval(config["min_value"], config["max_value"])
            )
        elif config.get("step"):  # a stepped Float
            values = np.arange(config["min_value"], config["max_value"] + config["step"] / 2, config["step"])
            domain = hp_api.Discrete([round(float(v), 12) for v in values])
        else:
            domain = hp_api.RealInterval(float(config["min_value"]), float(config["max_value"]))
        result.append(hp_api.HParam(hp.name, domain))
    return result


def write_experiment(logdir: str, space: kt.HyperParameters, objective: str, metrics: Iterable[str]) -> None:
    """Writes the experiment: the hyperparameters' domains, the objective and the per-epoch metrics."""
    from tensorboard.plugins.hparams import summary_v2 as hp_api

    tracked = [hp_api.Metric(objective, display_name=f"{objective} (objective)")]
    tracked += [hp_api.Metric(f"epoch/{name}", display_name=f"{name} (last epoch)") for name in sorted(metrics)]
    writer = _writer(logdir)
    try:
        _write(writer, hp_api.hparams_config_pb(hparams=domains(space), metrics=tracked))
    finally:
        writer.close()


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class HParamsSession:
    """One HParams session: one execution of one trial.

    Args:
        logdir: The search's TensorBoard folder.
        trial_id: The trial.
        hparams: Its hyperparameter values.
        part: The execution's (`execution_<i>`) or fold's (`fold_<i>`) folder, where a trial has several.
    """

    def __init__(self, logdir: str, trial_id: str, hparams: Mapping[str, Any], part: str | None = None) -> None:
        from tensorboard.plugins.hparams import summary_v2 as hp_api

        self.path = os.path.join(logdir, trial_id, *([part] if part is not None else []))
        self._writer = _writer(self.path)
        group = trial_id  # executions of a trial are one session group
        values = {k: _plain(v) for k, v in hparams.items()}
        _write(self._writer, hp_api.hparams_pb(values, trial_id=group))

    def scalars(self, step: int, values: Mapping[str, float], prefix: str = "epoch/") -> None:
        from tensorboard.compat.proto import summary_pb2

        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=f"{prefix}{k}", simple_value=v) for k, v in values.items()]
        )
        _write(self._writer, summary, step)

    def end(self, *, succeeded: bool, objective: tuple[str, float, int] | None = None) -> None:
        """Writes the objective (name, value, step) and the session's end, and closes the file."""
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

        if objective is not None:
            name, value, step = objective
            self.scalars(step, {name: value}, prefix="")
        # As tensorboard.plugins.hparams.summary.session_end_pb, whose protos are TensorFlow's where it is there.
        info = plugin_data_pb2.SessionEndInfo(
            status=api_pb2.STATUS_SUCCESS if succeeded else api_pb2.STATUS_FAILURE, end_time_secs=time.time()
        )
        value = summary_pb2.Summary.Value(
            tag=metadata.SESSION_END_INFO_TAG,
            metadata=metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(session_end_info=info)),
        )
        _write(self._writer, summary_pb2.Summary(value=[value]))
        self._writer.close()
