"""Test setup: every test gets its own W&B and Keras homes below `tmp_path`, offline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Before keras is imported anywhere: keep its config out of ~, and TensorFlow quiet.
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="kt-wandb-keras-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import pytest
from wandb_server import WandbServer

WANDB_VARIABLES = ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_IDENTITY_TOKEN_FILE")


def isolate_wandb(monkeypatch: pytest.MonkeyPatch, root: Path) -> Path:
    """W&B offline, with every file it writes below `root`; returns its runs' folder."""
    for name in WANDB_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(root / "runs"))
    for name in ("CONFIG", "CACHE", "DATA", "ARTIFACT"):
        monkeypatch.setenv(f"WANDB_{name}_DIR", str(root / name.lower()))
    monkeypatch.setenv("NETRC", str(root / "no-netrc"))
    monkeypatch.setenv("HOME", str(root / "home"))
    (root / "runs").mkdir(parents=True, exist_ok=True)  # wandb falls back to a temp folder for a missing `dir`
    return root / "runs"


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


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: this one's, without the token of this process's wandb service.

    wandb exports `WANDB_SERVICE` once it starts its service, and a child that inherits it sends its runs to
    this process's service; a child should start its own, as it would outside the tests.
    """
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env.update(extra)
    return env


def kill_then_resume(script: Path, root: Path) -> None:
    """Runs a search script twice on `root`: "first", which must SIGKILL itself, then "second", which must end well."""

    def run(stage: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), str(root), stage], env=child_env(),
                              capture_output=True, text=True, timeout=600, check=False)

    first = run("first")
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    second = run("second")
    assert second.returncode == 0, second.stderr[-3000:]


# The hypermodel `build` and the data `x`, `y` of the searches tests run in a child process, for their scripts.
CHILD_SEARCH = """
def build(hp):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 64, step=8)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

digits = load_digits()
x, y = digits.data[:300] / 16.0, digits.target[:300]
"""


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
