"""Pins what kt-wandb relies on in KerasTuner's internals (`kt_wandb._keras_tuner`), on real objects.

A KerasTuner whose internals differ fails here, naming the one to revisit.
"""

from __future__ import annotations

import threading
from importlib.metadata import requires, version
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pytest
from packaging.requirements import Requirement

from kt_wandb import _keras_tuner as internals


def oracle(tmp_path: Path, cls=kt.oracles.RandomSearchOracle, **kwargs) -> kt.Oracle:
    made = cls(objective=kt.Objective("val_loss", "min"), max_trials=4, seed=0, **kwargs)
    made._set_project_dir(str(tmp_path), "p")
    made.hyperparameters.Int("units", 1, 4)
    return made


def test_the_installed_keras_tuner_is_in_the_declared_range():
    (declared,) = [Requirement(r) for r in requires("kt-wandb") or [] if r.startswith("keras-tuner")]
    assert declared.specifier.contains(version("keras-tuner")), (declared, version("keras-tuner"))


def test_holding_takes_the_lock_keras_tuners_synchronized_methods_take(tmp_path):
    made = oracle(tmp_path)
    created: list[str] = []
    other = threading.Thread(target=lambda: created.append(made.create_trial("other").trial_id))
    with internals.holding(made):
        made.create_trial("mine")  # the same thread: not taken again
        other.start()
        other.join(0.5)
        assert other.is_alive() and not created  # another thread waits for it
    other.join(10)
    assert created


def test_a_requeued_trial_is_the_next_one_create_trial_hands_out(tmp_path):
    made = oracle(tmp_path)
    first = made.create_trial("w0")
    internals.requeue(made, first.trial_id)
    assert made.create_trial("w1").trial_id == first.trial_id
    internals.requeue(made, "9")
    assert internals.take_from_queue(made, "9") and not internals.take_from_queue(made, "9")


def test_end_trial_calls_the_replaced_failure_check(tmp_path):
    made = oracle(tmp_path)
    calls: list[int] = []
    internals.replace_failure_check(made, lambda: calls.append(1))
    trial = made.create_trial("w0")
    trial.status = internals.TrialStatus.FAILED
    made.end_trial(trial)
    assert calls == [1]


def test_a_grid_oracle_has_the_order_kt_wandb_rebuilds_after_a_reload(tmp_path):
    made = oracle(tmp_path, kt.oracles.GridSearchOracle)
    for worker in ("w0", "w1"):
        trial = made.create_trial(worker)
        trial.status = internals.TrialStatus.COMPLETED
        made.update_trial(trial.trial_id, {"val_loss": 1.0})
        made.end_trial(trial)
    kept = grid_order(made._ordered_ids)
    assert sorted(kept) == sorted(made.trials)
    internals.rebuild_grid_order(made)
    assert grid_order(made._ordered_ids) == kept and made._populate_next == list(made.end_order)


def grid_order(linked) -> list[str]:
    """The trial ids of KerasTuner's grid `LinkedList`, first to last (`insert` and `next` are what it offers)."""
    order, node = [], linked._memory[linked._next_index[None]] if linked._memory else None
    while node is not None:
        order.append(node)
        node = linked.next(node)
    return order


def test_hyperbands_schedule_is_read_from_its_brackets_and_rounds(tmp_path):
    made = kt.oracles.HyperbandOracle(objective=kt.Objective("val_loss", "min"), max_epochs=9, factor=3, seed=0)
    size = internals.hyperband_schedule_size(made)
    # Hyperband's brackets for max_epochs=9, factor=3: 9, 3 and 1 models; 5 and 2; 3.
    assert made._get_num_brackets() == 3 and size == 9 + 3 + 1 + 5 + 2 + 3


def test_a_trials_files_are_where_the_oracle_and_the_tuner_put_them(tmp_path):
    tuner = kt.RandomSearch(lambda hp: None, objective="val_loss", max_trials=1, directory=str(tmp_path),
                            project_name="p")
    assert internals.trials_dir(tuner.oracle) == tmp_path / "p"
    assert internals.trial_dir(tuner.oracle, "0") == tmp_path / "p" / "trial_0"
    build_config, weights = internals.checkpoint_files(tuner, "0")
    assert Path(build_config).parent == Path(weights).parent == tmp_path / "p" / "trial_0"


def test_the_bridge_from_fit_and_the_results_to_metrics(tmp_path):
    seen: list[int] = []

    class Hooked(kt.RandomSearch):
        def on_epoch_end(self, trial, model, epoch, logs=None):
            seen.append(epoch)

    tuner = Hooked(lambda hp: None, objective="val_loss", max_trials=1, directory=str(tmp_path), project_name="p")
    bridge = internals.TunerCallback(tuner, tuner.oracle.create_trial("w0"))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 2)), np.ones(4), epochs=2, validation_split=0.5, verbose=0, callbacks=[bridge])
    assert seen == [0, 1]
    metrics = internals.convert_to_metrics_dict(history, kt.Objective("val_loss", "min"))
    assert metrics["val_loss"] == pytest.approx(min(history.history["val_loss"]))
    assert callable(kt.Tuner._build_and_fit_model) and callable(kt.Tuner._build_hypermodel)  # hooks it overrides


def test_the_chiefs_parts_serve_what_kt_wandbs_servicer_overrides():
    protos, servicer, exit_chief = internals.protos, internals.OracleServicer, internals.exit_chief
    for method in ("CreateTrial", "UpdateTrial", "EndTrial", "GetTrial", "GetSpace", "UpdateSpace", "GetBestTrials"):
        assert callable(getattr(servicer, method)), method
    assert callable(exit_chief) and hasattr(protos.get_service(), "CreateTrialResponse")


def test_every_request_of_keras_tuners_oracle_client_goes_over_the_channel_it_is_given(tmp_path, monkeypatch):
    import socket
    from concurrent import futures

    import grpc
    from keras_tuner.src.distribute.oracle_client import OracleClient

    served = oracle(tmp_path / "chief")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    internals.protos.get_service_grpc().add_OracleServicer_to_server(internals.OracleServicer(served), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with socket.socket() as probe:  # where KerasTuner's own channel points: nothing serves there
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(probe.getsockname()[1]))
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker0")
    try:
        client = OracleClient(oracle(tmp_path / "worker"))
        internals.use_channel(client, grpc.insecure_channel(f"127.0.0.1:{port}"))
        trial = client.create_trial("worker0")
        assert trial.trial_id in served.trials and client.get_trial(trial.trial_id).trial_id == trial.trial_id
        assert "units" in client.get_space().values
    finally:
        server.stop(grace=0)
