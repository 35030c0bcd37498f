"""TensorBoard HParams read back with TensorBoard's own loader, over the classic exhaustive grid."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from kt_wandb import WandbTuner
from tests.helpers.tensorboard_events import accumulate, scalars
from tests.helpers.wandb_log import read_runs


def build(hp):
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(hp.Choice("units", [16, 32]), activation="relu"),
            keras.layers.Dropout(hp.Choice("dropout", [0.1, 0.2])),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(hp.Choice("optimizer", ["adam", "sgd"]), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def grid(tmp_path_factory, digits):
    from tests.helpers.environment import isolate_wandb

    root = tmp_path_factory.mktemp("grid")
    with pytest.MonkeyPatch.context() as monkeypatch:
        runs_dir = isolate_wandb(monkeypatch, root / "wandb-env")
        tuner = WandbTuner(
            build, objective="val_accuracy", oracle="grid", max_trials=None,
            directory=str(root), project_name="grid", tensorboard_dir=str(root / "logs" / "hparam_tuning"),
        )
        tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0)
    return tuner, root / "logs" / "hparam_tuning", runs_dir


def test_the_grid_runs_every_combination_exactly_once_in_order(grid):
    tuner, _, runs_dir = grid
    trials = [tuner.oracle.trials[t] for t in sorted(tuner.oracle.trials)]
    visited = [(t.hyperparameters.get("units"), t.hyperparameters.get("dropout"), t.hyperparameters.get("optimizer"))
               for t in trials]
    assert sorted(visited) == sorted(itertools.product([16, 32], [0.1, 0.2], ["adam", "sgd"]))
    assert len(visited) == len(set(visited)) == 8
    assert visited[0] == (16, 0.1, "adam")  # KerasTuner's grid: deterministic, first values first
    assert len(read_runs(runs_dir)) == 8  # and the same search is in W&B, one run per combination


def test_the_experiment_has_the_spaces_domains_and_the_metrics(grid):
    from tensorboard.plugins.hparams import metadata

    _, logdir, _ = grid
    root = accumulate(logdir)
    (content,) = root.PluginTagToContent(metadata.PLUGIN_NAME).values()
    experiment = metadata.parse_experiment_plugin_data(content)
    domains = {
        info.name: sorted(getattr(v, v.WhichOneof("kind")) for v in info.domain_discrete.values)
        for info in experiment.hparam_infos
    }
    assert domains == {"units": [16, 32], "dropout": [0.1, 0.2], "optimizer": ["adam", "sgd"]}
    metrics = {m.name.tag for m in experiment.metric_infos}
    assert {"val_accuracy", "epoch/val_accuracy", "epoch/loss", "epoch/accuracy", "epoch/val_loss"} <= metrics


def test_each_trial_is_a_session_with_its_values_curves_and_objective(grid):
    from tensorboard.plugins.hparams import api_pb2, metadata

    tuner, logdir, _ = grid
    sessions = sorted(p.name for p in logdir.iterdir() if p.is_dir())
    assert sessions == sorted(tuner.oracle.trials)
    for trial_id, trial in tuner.oracle.trials.items():
        accumulator = accumulate(logdir / trial_id)
        content = accumulator.PluginTagToContent(metadata.PLUGIN_NAME)
        start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
        values = {k: v.number_value if v.HasField("number_value") else v.string_value for k, v in start.hparams.items()}
        assert values == pytest.approx(trial.hyperparameters.values)
        end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
        assert end.status == api_pb2.STATUS_SUCCESS
        ((step, objective),) = scalars(accumulator, "val_accuracy")
        assert objective == pytest.approx(trial.score) and step == trial.best_step
        curve = scalars(accumulator, "epoch/val_accuracy")
        assert [s for s, _ in curve] == [0, 1]
        assert max(v for _, v in curve) == pytest.approx(trial.score)


def test_a_continuous_domain_is_an_interval(tmp_path):
    import keras_tuner as kt

    from kt_wandb.tuners._tensorboard import domains

    space = kt.HyperParameters()
    space.Float("lr", 1e-4, 1e-2, sampling="log")
    space.Int("layers", 1, 3)
    space.Int("units", 32, 96, step=32)
    space.Boolean("bn")
    lr, layers, units, bn = domains(space)
    assert (lr.domain.min_value, lr.domain.max_value) == (1e-4, 1e-2)
    assert (layers.domain.min_value, layers.domain.max_value) == (1, 3)
    assert units.domain.values == [32, 64, 96]
    assert bn.domain.values == [False, True]
    assert np.isfinite(lr.domain.min_value)


def test_the_grid_discretises_a_continuous_float_into_ten_values_of_its_sampling(tmp_path):
    def space(hp):  # declared up front, as a hypermodel does, so the grid knows it from the start
        hp.Float("lr", 1e-4, 1e-2, sampling="log")
        hp.Choice("flag", [0, 1])

    class BlackBox(WandbTuner):
        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            return {"score": -abs(np.log10(hp.get("lr")) + 3) + hp.get("flag") * 0.1}

    tuner = BlackBox(space, objective=kt_objective(), oracle="grid", max_trials=None, wandb_mode="disabled",
                     directory=str(tmp_path), project_name="bb")
    tuner.search()
    values = {t.hyperparameters.get("lr") for t in tuner.oracle.trials.values()}
    # KerasTuner's grid starts from the defaults (lr's is its minimum), then takes 10 values.
    assert len(tuner.oracle.trials) == 22 and len(values) == 11
    sampled = sorted(values - {1e-4})
    ratios = np.diff(np.log10(sampled))
    assert len(sampled) == 10 and np.allclose(ratios, ratios[0])  # evenly spaced in the log scale


def kt_objective():
    import keras_tuner as kt

    return kt.Objective("score", "max")
