"""Test setup: every test gets its own W&B and Keras homes below `tmp_path`, offline."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Before keras is imported anywhere: keep its config out of ~, and TensorFlow quiet.
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="kt-wandb-keras-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from tests.helpers.environment import isolate_wandb
from tests.helpers.wandb_server import WandbServer


@pytest.fixture(autouse=True)
def wandb_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's W&B files below its `tmp_path`; returns the runs' folder."""
    return isolate_wandb(monkeypatch, tmp_path / "wandb-env")


@pytest.fixture(scope="session")
def wandb_server() -> Iterator[WandbServer]:
    """The W&B server double of this test session (see `online_wandb`, which each test that uses it goes through).

    It listens until the process exits (its threads are daemons): wandb's exit hooks still post telemetry to
    the base URL of the first online run, and would retry against a closed port for seconds.
    """
    server = WandbServer(entity="team").start()
    yield server
    server.heal()


@pytest.fixture
def online_wandb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, wandb_server: WandbServer) -> Iterator[WandbServer]:
    """W&B online, against the session's server double, emptied and healed; its files below `tmp_path`.

    wandb reads its environment once per service: this one's is torn down before the test (so it reads this
    environment) and after it (so the next test doesn't send to the double), once the double is healed, as a
    stalled or killed server would hold wandb-core's uploads up. The double must have been asked nothing it
    has no answer to.
    """
    import wandb

    wandb.teardown()
    wandb_server.reset()
    isolate_wandb(monkeypatch, tmp_path / "wandb-online")
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_BASE_URL", wandb_server.url)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    yield wandb_server
    wandb_server.heal()
    wandb_server.restart()
    wandb.teardown()  # finishes any run the test left
    assert not wandb_server.unknown, f"asked the W&B server double what it has no answer to: {wandb_server.unknown}"


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """300 of scikit-learn's bundled digits: flat float features, integer labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.data[:300] / 16.0).astype("float32"), data.target[:300]


def build_tiny(hp):
    """A small MLP with two tuned hyperparameters, quick to fit."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(hp.Choice("units", [8, 16]), activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(hp.Choice("learning_rate", [1e-3, 1e-2])),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@pytest.fixture
def tiny_model():
    return build_tiny
