"""WandbTuner end to end with the real wandb offline, read back from its `.wandb` files."""

from __future__ import annotations

import json
import warnings
import weakref
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pytest

from kt_wandb import ORACLES, WandbTuner
from kt_wandb.tuners import RUN_RECORD
from kt_wandb.tuners._oracles import oracle_name
from tests.helpers.wandb_log import read_runs


def make_tuner(tmp_path: Path, build, **kwargs) -> WandbTuner:
    kwargs.setdefault("oracle", "random")
    if kwargs["oracle"] != "hyperband":
        kwargs.setdefault("max_trials", 3)
    kwargs.setdefault("seed", 1)
    kwargs.setdefault("overwrite", True)
    return WandbTuner(
        build,
        objective="val_accuracy",
        directory=str(tmp_path / "search"),
        project_name="test",
        **kwargs,
    )


def search(tuner: WandbTuner, digits, epochs: int = 2, **kwargs) -> None:
    x, y = digits
    tuner.search(x, y, epochs=epochs, validation_split=0.25, verbose=0, **kwargs)


def test_every_trial_is_one_run_with_its_config_and_the_oracles_score(
    tmp_path, wandb_env, digits, tiny_model
):
    tuner = make_tuner(tmp_path, tiny_model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search(tuner, digits)
    assert not [w for w in caught if "update_trial" in str(w.message)]  # the supported return path

    runs = read_runs(wandb_env)
    trials = tuner.oracle.trials
    assert len(trials) == 3
    assert sorted(runs) == sorted(f"{tuner.search_id}-{tid}" for tid in trials)
    for trial_id, trial in trials.items():
        run = runs[f"{tuner.search_id}-{trial_id}"]
        assert run.user_config == trial.hyperparameters.values
        assert run.summary["val_accuracy"] == pytest.approx(trial.score)
        assert run.summary["best_epoch"] == trial.best_step
        assert run.summary["trial/status"] == "COMPLETED"
        assert run.exit_code == 0
        assert run.group == tuner.wandb_group
        assert run.name == f"trial-{trial_id}"
        assert run.job_type == "trial"
        assert "random" in run.tags
        # One history row per epoch, on the explicit epoch axis.
        assert [row["epoch/epoch"] for row in run.history] == [0, 1]
        best = max(row["epoch/val_accuracy"] for row in run.history)
        assert best == pytest.approx(trial.score)
        assert run.metrics["epoch/val_accuracy"].step_metric == "epoch/epoch"
        assert run.metrics["epoch/val_accuracy"].summary.max
        assert run.metrics["val_accuracy"].summary.max
        record = json.loads((Path(tuner.get_trial_dir(trial_id)) / RUN_RECORD).read_text())
        assert record["run_id"] == run.run_id and record["exit_code"] == 0
    # The package list is the same for every trial: only the search's first run records it.
    assert len(list(wandb_env.glob("wandb/offline-run-*/files/requirements.txt"))) == 1


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_every_oracle_by_name(tmp_path, wandb_env, digits, tiny_model, name):
    if name == "gp":
        pytest.importorskip("torch")  # Optuna's GPSampler needs it; the test extra leaves it out (a CUDA wheel)
    extra = {"max_epochs": 2, "factor": 2} if name == "hyperband" else {"max_trials": 2}
    tuner = make_tuner(tmp_path, tiny_model, oracle=name, **extra)
    search(tuner, digits, epochs=2)
    runs = read_runs(wandb_env)
    completed = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    assert completed and len(runs) == len(tuner.oracle.trials)
    assert oracle_name(tuner.oracle) == name
    for run in runs.values():
        assert name in run.tags
        assert not any(key.startswith("tuner/") for key in run.config)


def test_unknown_oracle_name_lists_the_valid_ones(tmp_path, tiny_model):
    with pytest.raises(ValueError) as error:
        make_tuner(tmp_path, tiny_model, oracle="randon")
    for name in ORACLES:
        assert repr(name) in str(error.value)
    assert "'randon'" in str(error.value)


def test_an_argument_nobody_takes_is_refused_by_name(tmp_path, tiny_model):
    with pytest.raises(ValueError, match="max_trail"):
        make_tuner(tmp_path, tiny_model, max_trail=3)


def test_wandb_kwargs_may_not_override_what_the_tuner_sets(tmp_path, tiny_model):
    with pytest.raises(ValueError, match=r"'config'.*wandb_kwargs"):
        make_tuner(tmp_path, tiny_model, wandb_kwargs={"config": {"a": 1}})


def test_hyperband_continuation_is_shown_and_logged_on_the_absolute_epoch_axis(
    tmp_path, wandb_env, digits, tiny_model
):
    tuner = make_tuner(tmp_path, tiny_model, oracle="hyperband", max_epochs=3, factor=3)
    search(tuner, digits, epochs=3)
    runs = read_runs(wandb_env)
    continued = [r for r in runs.values() if r.summary.get("hyperband/continued_from") is not None]
    assert continued, "Hyperband's schedule for max_epochs=3, factor=3 continues one trial"
    for run in continued:
        trial = tuner.oracle.trials[run.summary["trial/id"]]
        values = trial.hyperparameters.values
        parent = runs[f"{tuner.search_id}-{values['tuner/trial_id']}"]
        assert run.summary["hyperband/continued_from"] == values["tuner/trial_id"]
        assert run.user_config == parent.user_config
        assert f"round:{values['tuner/round']}" in run.tags
        assert f"bracket:{values['tuner/bracket']}" in run.tags
        epochs = [row["epoch/epoch"] for row in run.history]
        assert epochs == list(range(values["tuner/initial_epoch"], values["tuner/epochs"]))
        assert epochs[0] > 0


def test_hyperband_continues_from_the_parents_weights(tmp_path, digits, tiny_model):
    # What the child's training starts from, seen from inside its fit: the parent's best checkpoint.
    at_start: dict[str, list[np.ndarray]] = {}

    class Recording(WandbTuner):
        def run_trial(self, trial, *args, **kwargs):
            self.current = trial.trial_id
            return super().run_trial(trial, *args, **kwargs)

    class WeightsAtStart(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            at_start[tuner.current] = [w.copy() for w in self.model.get_weights()]

    tuner = Recording(tiny_model, objective="val_accuracy", oracle="hyperband", max_epochs=3, factor=3, seed=1,
                      directory=str(tmp_path), project_name="hb", overwrite=True)
    tuner.search(*digits, epochs=3, validation_split=0.25, verbose=0, callbacks=[WeightsAtStart()])
    children = [t for t in tuner.oracle.trials.values() if "tuner/trial_id" in t.hyperparameters.values]
    assert children
    for child in children:
        parent = tuner.oracle.trials[child.hyperparameters.values["tuner/trial_id"]]
        expected = tuner.load_model(parent).get_weights()
        for a, b in zip(at_start[child.trial_id], expected, strict=True):
            np.testing.assert_array_equal(a, b)
        fresh = tuner.hypermodel.build(child.hyperparameters).get_weights()  # not what a new model starts from
        assert any(not np.array_equal(a, b) for a, b in zip(at_start[child.trial_id], fresh, strict=True))


def test_several_executions_are_told_apart_and_the_objective_is_their_mean(
    tmp_path, wandb_env, digits, tiny_model
):
    tuner = make_tuner(tmp_path, tiny_model, max_trials=1, executions_per_trial=2)
    search(tuner, digits)
    (run,) = read_runs(wandb_env).values()
    (trial,) = tuner.oracle.trials.values()
    for index in (0, 1):
        epochs = [row[f"execution_{index}/epoch"] for row in run.history if f"execution_{index}/epoch" in row]
        assert epochs == [0, 1]
    scores = [run.summary[f"execution_{i}/val_accuracy"] for i in (0, 1)]
    assert run.summary["val_accuracy"] == pytest.approx(np.mean(scores))
    assert trial.score == pytest.approx(np.mean(scores))


def test_a_failing_trial_finishes_its_run_as_failed_and_the_search_goes_on(
    tmp_path, wandb_env, digits, tiny_model
):
    def build(hp):
        model = tiny_model(hp)
        if hp.get("units") == 16:
            raise RuntimeError("units=16 is broken on purpose")
        return model

    tuner = make_tuner(tmp_path, build, oracle="grid", max_trials=None)
    search(tuner, digits, epochs=1)
    runs = read_runs(wandb_env)
    trials = tuner.oracle.trials.values()
    assert len(trials) == 4  # 2 units x 2 learning rates, all visited
    for trial in trials:
        run = runs[f"{tuner.search_id}-{trial.trial_id}"]
        if trial.hyperparameters.get("units") == 16:
            assert trial.status == "FAILED"
            assert run.exit_code == 1
            assert run.summary["trial/status"] == "FAILED"
            assert "units=16 is broken on purpose" in run.summary["trial/error"]
            assert "val_accuracy" not in run.summary
        else:
            assert trial.status == "COMPLETED" and run.exit_code == 0


def test_ctrl_c_during_a_trial_still_finishes_its_run(tmp_path, wandb_env, digits, tiny_model):
    import wandb

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    tuner = make_tuner(tmp_path, tiny_model)
    with pytest.raises(KeyboardInterrupt):
        search(tuner, digits, callbacks=[Interrupt()])
    assert wandb.run is None
    (run,) = read_runs(wandb_env).values()
    assert run.exit_code == 255
    assert run.summary["trial/status"] == "INTERRUPTED"


def test_best_models_and_hyperparameters(tmp_path, digits, tiny_model):
    tuner = make_tuner(tmp_path, tiny_model)
    search(tuner, digits)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    (model,) = tuner.get_best_models(1)
    x, y = digits
    _, accuracy = model.evaluate(x[225:], y[225:], verbose=0)
    assert accuracy == pytest.approx(best_trial.score, abs=1e-6)
    assert tuner.get_best_hyperparameters(1)[0].values == best_trial.hyperparameters.values


def test_log_best_model_logs_an_artifact(tmp_path, wandb_env, digits, tiny_model):
    tuner = make_tuner(tmp_path, tiny_model, max_trials=1, log_best_model=True)
    search(tuner, digits, epochs=1)
    (run,) = read_runs(wandb_env).values()
    assert run.artifacts == [f"model-{run.run_id}"]


class Subclassed(keras.Model):
    """A subclassed model without get_config: KerasTuner can't rebuild it from a checkpoint to log it."""

    def __init__(self, units):
        super().__init__()
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.out = keras.layers.Dense(10, activation="softmax")

    def call(self, x):
        return self.out(self.hidden(x))


def test_a_model_that_cannot_be_logged_costs_only_its_artifact(tmp_path, wandb_env, digits, capsys):
    def build(hp):
        model = Subclassed(hp.Choice("units", [8, 16]))
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = make_tuner(tmp_path, build, max_trials=2, log_best_model=True)
    search(tuner, digits, epochs=1)
    assert [t.status for t in tuner.oracle.trials.values()] == ["COMPLETED", "COMPLETED"]  # the search went on
    runs = read_runs(wandb_env)
    assert len(runs) == 2
    for run in runs.values():
        assert run.exit_code == 0 and run.artifacts == [] and "val_accuracy" in run.summary
        assert run.summary["trial/model_artifact_error"]
    said = [line for line in capsys.readouterr().err.splitlines() if "could not log trial" in line]
    assert len(said) == 1 and "the trial, its scores and its run are kept" in said[0]


def test_a_resumed_search_keeps_its_runs_and_adds_only_new_ones(tmp_path, wandb_env, digits, tiny_model):
    first = make_tuner(tmp_path, tiny_model, max_trials=2)
    search(first, digits, epochs=1)
    second = make_tuner(tmp_path, tiny_model, max_trials=3, overwrite=False)
    search(second, digits, epochs=1)
    assert second.search_id == first.search_id
    runs = read_runs(wandb_env)  # raises if any run id was written twice
    assert sorted(runs) == sorted(f"{first.search_id}-{tid}" for tid in second.oracle.trials)
    assert len(runs) == 3


def test_overwrite_starts_a_new_search_with_new_run_ids(tmp_path, wandb_env, digits, tiny_model):
    first = make_tuner(tmp_path, tiny_model, max_trials=1)
    search(first, digits, epochs=1)
    second = make_tuner(tmp_path, tiny_model, max_trials=1)
    search(second, digits, epochs=1)
    assert first.search_id != second.search_id
    assert len(read_runs(wandb_env)) == 2


def test_disabled_wandb_writes_no_run_but_the_search_completes(tmp_path, wandb_env, digits, tiny_model):
    tuner = make_tuner(tmp_path, tiny_model, max_trials=2, wandb_mode="disabled")
    search(tuner, digits, epochs=1)
    assert [t.status for t in tuner.oracle.trials.values()] == ["COMPLETED", "COMPLETED"]
    assert read_runs(tmp_path) == {}


def test_custom_run_trial_can_log_to_the_trials_run(tmp_path, wandb_env, digits, tiny_model):
    class MyTuner(WandbTuner):
        def run_trial(self, trial, x, y, **kwargs):
            model = self.hypermodel.build(trial.hyperparameters)
            model.fit(x, y, epochs=1, verbose=0)
            _, accuracy = model.evaluate(x, y, verbose=0)
            self.wandb_run.log({"custom/accuracy": accuracy})
            return {"val_accuracy": accuracy}

    tuner = MyTuner(
        tiny_model, objective="val_accuracy", max_trials=1,
        directory=str(tmp_path / "search"), project_name="custom",
    )
    tuner.search(*digits)
    (run,) = read_runs(wandb_env).values()
    (trial,) = tuner.oracle.trials.values()
    assert run.history[0]["custom/accuracy"] == pytest.approx(trial.score)
    assert run.summary["val_accuracy"] == pytest.approx(trial.score)


def test_bad_wandb_kwargs_are_refused_before_an_existing_search_is_overwritten(tmp_path, digits, tiny_model):
    first = make_tuner(tmp_path, tiny_model, max_trials=1)
    search(first, digits, epochs=1)
    with pytest.raises(ValueError, match="wandb_kwargs"):
        make_tuner(tmp_path, tiny_model, overwrite=True, wandb_kwargs={"id": "mine"})
    assert (Path(first.get_trial_dir("0")) / "trial.json").exists()


class _CapturingHyperModel(kt.HyperModel):
    """Wraps a build function; keeps the callbacks each `fit` is given."""

    def __init__(self, build) -> None:
        super().__init__()
        self.build_function = build
        self.callbacks: list[list[keras.callbacks.Callback]] = []

    def build(self, hp):
        return self.build_function(hp)

    def fit(self, hp, model, *args, **kwargs):
        self.callbacks.append(list(kwargs["callbacks"]))
        return super().fit(hp, model, *args, **kwargs)


def test_training_keeps_kerass_asynchronous_dispatch(tmp_path, digits, tiny_model):
    # KerasTuner's own bridge to the tuner has per-batch hooks, which make Keras wait for the device after
    # every step; WandbTuner's has none unless the tuner overrides them.
    hypermodel = _CapturingHyperModel(tiny_model)
    search(make_tuner(tmp_path, hypermodel, max_trials=1), digits, epochs=1)
    (callbacks,) = hypermodel.callbacks
    # Keras's rule (`CallbackList._configure_async_dispatch`, on the backends that dispatch asynchronously):
    # no callback may override a batch-end hook.
    from keras.src.utils.python_utils import is_default

    hooks = ("on_batch_end", "on_train_batch_end", "on_test_batch_end")
    assert [(type(c).__name__, h) for c in callbacks for h in hooks if not is_default(getattr(c, h))] == []
    assert any(type(c).__name__ == "EpochTunerCallback" for c in callbacks)  # the tuner's epoch hooks still run


def test_a_tuner_with_batch_hooks_still_gets_every_batch(tmp_path, digits, tiny_model):
    class BatchCounting(WandbTuner):
        batches = 0

        def on_batch_end(self, trial, model, batch, logs=None):
            super().on_batch_end(trial, model, batch, logs)
            assert isinstance(logs["loss"], float)
            BatchCounting.batches += 1

    tuner = BatchCounting(
        tiny_model, objective="val_accuracy", max_trials=1, directory=str(tmp_path / "search"),
        project_name="batches",
    )
    x, y = digits
    tuner.search(x, y, epochs=2, batch_size=25, validation_split=0.25, verbose=0)
    assert BatchCounting.batches == 2 * len(x) * 3 // 4 // 25


def test_a_new_search_never_takes_the_run_ids_of_an_earlier_one(tmp_path, monkeypatch, wandb_env, digits, tiny_model):
    monkeypatch.setenv("KT_WANDB_SEARCH_ID", "rerun01")  # the same id for every host of a search
    first = make_tuner(tmp_path, tiny_model, max_trials=1)
    search(first, digits, epochs=1)
    again = make_tuner(tmp_path, tiny_model, max_trials=2, overwrite=False)  # resuming it is fine
    search(again, digits, epochs=1)
    with pytest.raises(ValueError, match=r"received KT_WANDB_SEARCH_ID='rerun01', whose runs already exist .*"
                       r"To fix, set KT_WANDB_SEARCH_ID to a new value"):
        make_tuner(tmp_path, tiny_model, max_trials=1, overwrite=True)  # a new search under the same id
    assert sorted(read_runs(wandb_env)) == ["rerun01-0", "rerun01-1"]  # each run written once


class HeapWatch(keras.callbacks.Callback):
    """Notes, as each trial's training begins, the frozen count and whether the earlier trials' models are gone."""

    def __init__(self):
        super().__init__()
        self.models, self.seen = [], []

    def __deepcopy__(self, memo):  # KerasTuner copies callbacks for each execution: keep noting here
        return self

    def on_train_begin(self, logs=None):
        import gc

        self.seen.append((gc.get_freeze_count(), [ref() is None for ref in self.models]))
        self.models.append(weakref.ref(self.model))


def test_the_search_freezes_the_heap_it_found_and_still_collects_each_trials_models(tmp_path, digits, tiny_model):
    import gc

    watch = HeapWatch()
    tuner = make_tuner(tmp_path, tiny_model, wandb_mode="disabled", max_trials=4)
    search(tuner, digits, epochs=1, callbacks=[watch])
    frozen, gone = zip(*watch.seen, strict=True)
    assert all(count > 0 for count in frozen)  # KerasTuner's collections before each model skip what was there
    # The trials' own models are collected as before: all but the last trial's (alive until the next trial ends,
    # with or without the freeze) are gone as a trial starts.
    assert [g[:-1] for g in gone] == [[], [], [True], [True, True]]
    assert gc.get_freeze_count() == 0  # and all of it is back to the collector after the search

    gc.freeze()  # a program that froze its heap itself keeps it as it is
    try:
        before = gc.get_freeze_count()
        search(make_tuner(tmp_path / "again", tiny_model, wandb_mode="disabled"), digits, epochs=1)
        assert 0 < gc.get_freeze_count() <= before  # neither unfrozen nor frozen more (frozen objects may die)
    finally:
        gc.unfreeze()
