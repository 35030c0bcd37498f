"""KerasTuner's internals, all in one place: every name kt-wandb takes from `keras_tuner.src` or a private attribute.

KerasTuner 1.4 (the range `pyproject.toml` declares) exposes no public way to
do what these do; each was read from keras-tuner 1.4.8's own code, and
`tests/test_keras_tuner.py` pins the behaviour each relies on, so a
KerasTuner whose internals differ fails there, by name, not somewhere in a search.

- A multi-objective's parts (`MultiObjective`).
- The oracle's lock (`LOCKS`, `THREADS`, what `keras_tuner.synchronized` uses).
- Its retry queue (`_retry_queue`): trials `create_trial` hands out again first.
- Its consecutive-failure check (`_check_consecutive_failures`, called by `end_trial`).
- The grid oracle's order (`_ordered_ids`, a `LinkedList`; `_compare`; `_populate_next`).
- Hyperband's schedule (`_get_num_brackets`, `_get_num_rounds`, `_get_size`).
- Where a trial's files go (`_get_trial_dir`, `_project_dir`; the tuner's checkpoint and build config names).
- The tuner's bridge from `fit` (`TunerCallback`) and how results become metrics (`convert_to_metrics_dict`).
- The distributed chief (`OracleServicer`, `exit_chief`, the gRPC `protos`).
- The distributed worker's channel to the chief (`OracleClient.stub`, which KerasTuner builds on an insecure channel).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from keras_tuner.src import protos
from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief
from keras_tuner.src.engine import oracle as _oracle_module
from keras_tuner.src.engine.objective import MultiObjective
from keras_tuner.src.engine.trial import Trial, TrialStatus
from keras_tuner.src.engine.tuner_utils import TunerCallback, convert_to_metrics_dict
from keras_tuner.src.utils import load_json

__all__ = [
    "MultiObjective", "OracleServicer", "Trial", "TrialStatus", "TunerCallback", "checkpoint_files",
    "convert_to_metrics_dict", "exit_chief", "holding", "hyperband_schedule_size", "load_json", "objective_parts",
    "protos", "rebuild_grid_order", "replace_failure_check", "requeue", "take_from_queue", "trial_dir", "trials_dir",
    "use_channel",
]


def objective_parts(objective: Any) -> list[Any]:
    """The objectives a search ranks by: a `MultiObjective`'s own, or the one objective."""
    return list(objective.objectives) if isinstance(objective, MultiObjective) else [objective]


@contextlib.contextmanager
def holding(oracle: Any) -> Iterator[None]:
    """Holds the oracle's lock, KerasTuner's own (`keras_tuner.synchronized`), and gives it back however it ends.

    KerasTuner's decorator keeps the lock when the call raises (its `end_trial`
    raises once `max_consecutive_failed_trials` is reached), which would block
    every later request and the chief's reaper for good. Calls made inside
    see the lock as this thread's and don't take it again.
    """
    name = threading.current_thread().name
    if _oracle_module.THREADS[oracle] == name:  # already this thread's
        yield
        return
    with _oracle_module.LOCKS[oracle]:
        _oracle_module.THREADS[oracle] = name
        try:
            yield
        finally:
            _oracle_module.THREADS[oracle] = None


def requeue(oracle: Any, trial_id: str) -> None:
    """Puts a trial in the oracle's own queue of trials to run again: the next `create_trial` hands it out."""
    oracle._retry_queue.append(trial_id)


def take_from_queue(oracle: Any, trial_id: str) -> bool:
    """Takes a trial out of that queue; whether it was there."""
    queued = trial_id in oracle._retry_queue
    if queued:
        oracle._retry_queue.remove(trial_id)
    return queued


def replace_failure_check(oracle: Any, check: Callable[[], None]) -> None:
    """Makes `end_trial` call `check` where it calls KerasTuner's own `_check_consecutive_failures`."""
    oracle._check_consecutive_failures = check


def rebuild_grid_order(oracle: Any) -> None:
    """A reloaded grid oracle's order of trials and queue of trials to follow, as `end_trial` would have kept them.

    KerasTuner's `GridSearchOracle` keeps both in memory only (keras-tuner 1.4.8).
    """
    from keras_tuner.src.tuners.gridsearch import LinkedList

    values = {trial_id: trial.hyperparameters.values for trial_id, trial in oracle.trials.items()}
    ordered = LinkedList()
    for trial_id in sorted(values, key=functools.cmp_to_key(lambda a, b: oracle._compare(values[a], values[b]))):
        ordered.insert(trial_id)
    oracle._ordered_ids = ordered
    oracle._populate_next = list(oracle.end_order)


def hyperband_schedule_size(oracle: Any) -> float:
    """How many trials one Hyperband iteration of `oracle` runs, all brackets and rounds."""
    return sum(
        oracle._get_size(bracket, rnd)
        for bracket in range(oracle._get_num_brackets())
        for rnd in range(oracle._get_num_rounds(bracket))
    )


def trial_dir(oracle: Any, trial_id: str) -> Path:
    """The folder of a trial's files (`trial.json`, the run record, checkpoints)."""
    return Path(oracle._get_trial_dir(trial_id))


def trials_dir(oracle: Any) -> Path:
    """The project directory, where the trials' folders are."""
    return Path(oracle._project_dir)


def checkpoint_files(tuner: Any, trial_id: str) -> tuple[str, str]:
    """A trial's saved model: its build config and its best weights, as the tuner names them."""
    return tuner._get_build_config_fname(trial_id), tuner._get_checkpoint_fname(trial_id)


def use_channel(client: Any, channel: Any) -> None:
    """Makes KerasTuner's `OracleClient` send its requests over `channel`.

    Its own `__init__` opens `grpc.insecure_channel` to the chief and keeps
    only the stub built on it; every request goes through that stub.
    """
    client.stub = protos.get_service_grpc().OracleStub(channel)
