"""Faults during a search: the trial is marked with the reason, its run finished, the search goes on."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pytest

from kt_wandb import WandbTuner
from kt_wandb.analysis import config_key, hyperparameter_name, panel_spec, results_frame
from tests.helpers.environment import child_env
from tests.helpers.wandb_log import read_runs


def tuner_for(tmp_path, build, **kwargs):
    kwargs.setdefault("max_trials", 2)
    return WandbTuner(build, objective="val_accuracy", oracle="random", seed=0, directory=str(tmp_path),
                      project_name="faults", max_consecutive_failed_trials=5, **kwargs)


def diverging(hp):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Choice("units", [8, 16])),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.SGD(learning_rate=1e12), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_diverged_trial_keeps_the_score_it_reached_and_stops_early(tmp_path, wandb_env, digits):
    tuner = tuner_for(tmp_path, diverging)
    tuner.search(*digits, epochs=20, validation_split=0.25, verbose=0)
    runs = read_runs(wandb_env)
    for trial in tuner.oracle.trials.values():
        run = runs[f"{tuner.search_id}-{trial.trial_id}"]
        # val_accuracy was measured (at chance level) at the epoch the loss became NaN: the oracle learns
        # that this region is poor, as under plain KerasTuner, and training stopped there.
        assert trial.status == "COMPLETED" and np.isfinite(trial.score) and trial.score < 0.5
        diverged_at = run.summary["trial/diverged_at_epoch"]
        assert run.exit_code == 0 and diverged_at == 0
        # The run's history ends at that epoch: its loss is the first that is not finite, and none came after.
        assert len(run.history) == diverged_at + 1
        losses = [row["epoch/loss"] for row in run.history]
        assert np.isfinite(losses[:diverged_at]).all() and not np.isfinite(losses[diverged_at])


def test_diverged_trials_without_a_score_fail_but_do_not_stop_the_search(tmp_path, wandb_env, digits):
    # Plain KerasTuner ends this search with "Number of consecutive failures exceeded the limit of 3"
    # after three trials; each of the five trials diverges before any finite val_loss.
    def build(hp):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 4, 64)),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.SGD(learning_rate=1e12), "sparse_categorical_crossentropy")
        return model

    tuner = WandbTuner(build, objective="val_loss", oracle="random", seed=0, max_trials=5,
                       directory=str(tmp_path), project_name="diverge")
    assert tuner.oracle.max_consecutive_failed_trials == 3
    tuner.search(*digits, epochs=20, validation_split=0.25, verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 5 and all(t.status == "FAILED" for t in trials)
    assert all("Expected a finite loss" in t.message and "To fix" in t.message for t in trials)
    runs = read_runs(wandb_env)
    assert all(run.exit_code == 1 and "Expected a finite loss" in run.summary["trial/error"] for run in runs.values())
    for trial in trials:
        run = runs[f"{tuner.search_id}-{trial.trial_id}"]
        diverged_at = json.loads((Path(tuner.get_trial_dir(trial.trial_id)) / "wandb_run.json").read_text())[
            "diverged"]["epoch"]
        assert f"at epoch {diverged_at} " in trial.message
        # The run's history ends at the epoch whose loss went non-finite: training stopped there.
        assert len(run.history) == diverged_at + 1
        losses = [row["epoch/loss"] for row in run.history]
        assert np.isfinite(losses[:diverged_at]).all() and not np.isfinite(losses[diverged_at])


def test_other_failures_still_stop_the_search_after_the_limit(tmp_path, digits, tiny_model):
    class Broken(kt.HyperModel):
        def build(self, hp):
            return tiny_model(hp)

        def fit(self, hp, model, *args, callbacks=(), **kwargs):
            return model.fit(*args, callbacks=[*callbacks, _BreaksMidFit(True)], **kwargs)

    tuner = WandbTuner(Broken(), objective="val_loss", oracle="grid", max_trials=6, wandb_mode="disabled",
                       directory=str(tmp_path), project_name="broken")
    with pytest.raises(RuntimeError, match="Number of consecutive failures exceeded the limit of 3"):
        tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    assert len(tuner.oracle.trials) == 3


def test_an_oversized_model_is_failed_before_training(tmp_path, wandb_env, digits, tiny_model):
    tuner = tuner_for(tmp_path, tiny_model, max_model_size=10)
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    runs = read_runs(wandb_env)
    for trial in tuner.oracle.trials.values():
        run = runs[f"{tuner.search_id}-{trial.trial_id}"]
        assert trial.status == "FAILED" and "Oversized model" in run.summary["trial/error"]
        assert run.history == []


STALE_SERVICE_SCRIPT = textwrap.dedent(
    """
    import sys
    from sklearn.datasets import load_digits
    from kt_wandb import WandbTuner
    from kt_wandb.models import MLPHyperModel

    x, y = load_digits(return_X_y=True)
    tuner = WandbTuner(MLPHyperModel((64,), 10), objective="val_accuracy", oracle="random", max_trials=2, seed=0,
                       directory=sys.argv[1], project_name="stale", wandb_mode="offline")
    tuner.search(x[:300] / 16.0, y[:300], epochs=1, validation_split=0.25, verbose=0)
    print("STATUSES", *[t.status for t in tuner.oracle.trials.values()])
    """
)


def test_wandb_failing_to_start_costs_no_trial_and_is_said_once(tmp_path):
    # W&B failing in every mode, even offline, for real: a process that inherited the token of a wandb service
    # that has gone (WANDB_SERVICE, exported by a parent that died, a restarted notebook kernel's) can't start
    # any run. Here the token names a closed local port.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = tmp_path / "search.py"
    script.write_text(STALE_SERVICE_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "search")], capture_output=True, text=True, timeout=600,
        env={**child_env(), "WANDB_SERVICE": f"3-{os.getpid()}-tcp-localhost-{port}"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "STATUSES COMPLETED COMPLETED" in result.stdout
    lines = [line for line in result.stderr.splitlines() if "W&B could not start a run" in line]
    assert len(lines) == 1  # said once for the whole search, not once a trial
    assert lines[0].endswith("the search goes on and keeps its results in KerasTuner's records.")
    project = tmp_path / "search" / "stale"
    frame = results_frame(project)  # the search's own records keep every trial and its curve
    assert len(frame) == 2 and frame.score.notna().all() and frame.best_val_accuracy.notna().all()
    record = json.loads((project / "trial_0" / "wandb_run.json").read_text())
    assert record["mode"] == "failed" and record["exit_code"] == 0


def test_the_api_key_is_written_nowhere(tmp_path, monkeypatch, wandb_env, digits, tiny_model):
    secret = "ktwandbfakekey0123456789abcdef0123456789"  # 40 characters, as a W&B key
    monkeypatch.setenv("WANDB_API_KEY", secret)
    tuner = tuner_for(tmp_path / "search", tiny_model, tensorboard_dir=str(tmp_path / "tb"))
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    tuner.results_frame().to_csv(tmp_path / "results.csv")
    tuner.report()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(read_runs(wandb_env)) == 2 and len(written) > 20
    leaks = [str(p) for p in written if secret.encode() in p.read_bytes()]
    assert leaks == []


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_the_logger_records_non_finite_losses_as_they_are(value):
    from kt_wandb.tuners._logger import _scalar

    assert _scalar(np.float32(value)) is not None and not np.isfinite(_scalar(np.float32(value)))


class _BreaksMidFit(keras.callbacks.Callback):
    """Stands for a fit that raises partway: a data pipeline or a metric failing after an epoch."""

    def __init__(self, broken: bool) -> None:
        super().__init__()
        self.broken = broken

    def on_epoch_end(self, epoch, logs=None):
        if self.broken:
            raise OSError("the data source went away")


def test_a_fit_that_raises_fails_its_trial_keeps_its_epochs_and_the_search_goes_on(
    tmp_path, wandb_env, digits, tiny_model
):
    class BreaksWithUnits16(kt.HyperModel):
        def build(self, hp):
            return tiny_model(hp)

        def fit(self, hp, model, *args, callbacks=(), **kwargs):
            return model.fit(*args, callbacks=[*callbacks, _BreaksMidFit(hp.get("units") == 16)], **kwargs)

    tuner = WandbTuner(BreaksWithUnits16(), objective="val_accuracy", oracle="grid", directory=str(tmp_path),
                       project_name="fit-raises", max_consecutive_failed_trials=5)
    tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0)
    runs = read_runs(wandb_env)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 4  # every combination visited: the failures did not stop the search
    for trial in trials:
        run = runs[f"{tuner.search_id}-{trial.trial_id}"]
        if trial.hyperparameters.get("units") == 16:
            assert trial.status in ("FAILED", "INVALID") and "the data source went away" in trial.message
            assert run.exit_code == 1 and "OSError: the data source went away" in run.summary["trial/error"]
            assert [row["epoch/epoch"] for row in run.history] == [0]  # what it trained before the raise
        else:
            assert trial.status == "COMPLETED" and run.exit_code == 0
    frame = tuner.results_frame()
    assert set(frame.loc[frame.param_units == 16, "wandb_exit_code"]) == {1}


def test_hyperparameter_names_wandb_cannot_take_are_logged_reversibly(tmp_path, wandb_env, digits, capsys):
    names = ["block.units", "_scale", "-lr-", "50%", "plain"]

    def build(hp):
        values = [hp.Choice(name, [1, 2]) for name in names]
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(4 * values[0], activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = tuner_for(tmp_path, build, max_trials=2)
    said = capsys.readouterr().err
    assert said.count("W&B can't take 4 hyperparameter name(s)") == 1 and "'block.units' as 'block%2Eunits'" in said
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    runs = read_runs(wandb_env)
    assert len(runs) == 2
    for trial in tuner.oracle.trials.values():
        run = runs[f"{tuner.search_id}-{trial.trial_id}"]
        keys = set(run.user_config)
        # Nothing dropped or merged, and no key W&B would hide, strip or read as nesting.
        assert len(keys) == len(names) and "plain" in keys
        assert not any("." in k or k.startswith(("_", "-")) or k.endswith("-") for k in keys)
        assert {hyperparameter_name(k): v for k, v in run.user_config.items()} == trial.hyperparameters.values
        assert run.summary["trial/hp_names"] == {k: hyperparameter_name(k) for k in keys if k != "plain"}
    # The search's own records, table and TensorBoard keep the names as they are.
    assert {f"param_{n}" for n in names} <= set(tuner.results_frame().columns)
    assert {c.name for c in panel_spec(tuner.project_dir).columns} >= {config_key(n) for n in names}


def test_what_tensorflow_keeps_of_a_trials_models_is_given_back_when_it_ends(tmp_path, digits, tiny_model):
    from tensorflow.python.framework import ops

    def custom_gradients() -> int:
        return sum(k.startswith("CustomGradient-") for k in ops.gradient_registry._registry)

    class Count(keras.callbacks.Callback):
        during: list[int] = []  # noqa: RUF012 - shared by KerasTuner's copies

        def on_train_end(self, logs=None):
            Count.during.append(custom_gradients())

    before = custom_gradients()
    tuner = tuner_for(tmp_path, tiny_model, max_trials=3, wandb_mode="disabled")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0, callbacks=[Count()])
    # Each trial's train step registered gradients holding its whole graph (Keras's all-reduce under
    # TensorFlow); each trial's end dropped them, so models don't pile up in memory trial after trial.
    assert len(Count.during) == 3 and all(n > before for n in Count.during)
    assert custom_gradients() == before
    assert len(tuner.get_best_models(1)) == 1  # the models themselves still load and run
