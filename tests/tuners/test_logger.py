"""WandbEpochLogger on its own, with a real offline run."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pytest
import wandb

from kt_wandb import WandbEpochLogger
from tests.helpers.wandb_log import read_runs


def fit(callback, epochs=2, initial_epoch=0):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse", metrics=["mae"])
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    model.fit(x, x.sum(axis=1), epochs=epochs, initial_epoch=initial_epoch, verbose=0,
              validation_split=0.25, callbacks=[callback])


def test_logs_every_epoch_under_its_prefix_on_an_explicit_axis(wandb_env):
    with wandb.init(project="p", id="logger-1", dir=wandb_env, mode="offline") as run:
        fit(WandbEpochLogger(run, prefix="fold_0", summaries={"val_loss": "min"}), epochs=3, initial_epoch=1)
    run = read_runs(wandb_env)["logger-1"]
    assert [row["fold_0/epoch"] for row in run.history] == [1, 2]
    assert {"fold_0/loss", "fold_0/val_loss", "fold_0/mae", "fold_0/learning_rate"} <= set(run.history[0])
    assert run.history[0]["fold_0/learning_rate"] == pytest.approx(0.01)
    assert run.metrics["fold_0/*"].step_metric == "fold_0/epoch"
    assert run.metrics["fold_0/val_loss"].summary.min
    assert run.summary["fold_0/val_loss"]["min"] == pytest.approx(min(r["fold_0/val_loss"] for r in run.history))


def test_without_a_run_it_uses_the_active_one_and_is_silent_without_any(wandb_env):
    fit(WandbEpochLogger())  # no active run: nothing to log, no error
    with wandb.init(project="p", id="logger-2", dir=wandb_env, mode="offline"):
        fit(WandbEpochLogger(), epochs=1)
    assert len(read_runs(wandb_env)["logger-2"].history) == 1


def test_a_deep_copy_logs_to_the_same_run():
    run = object()
    logger = WandbEpochLogger(run, prefix="x")
    clone = copy.deepcopy(logger)
    assert clone.run is run and clone.prefix == "x" and clone is not logger


def test_a_prefix_with_a_slash_is_refused():
    with pytest.raises(ValueError, match="without '/'"):
        WandbEpochLogger(prefix="a/b")
