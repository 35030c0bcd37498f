"""The environment the tests give wandb, in this process and in the child processes they start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: this one's, without the token of this process's wandb service.

    wandb exports `WANDB_SERVICE` once it starts its service, and a child that inherits it sends its runs to
    this process's service; a child should start its own, as it would outside the tests.
    """
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env.update(extra)
    return env


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


def kill_then_resume(script: Path, root: Path) -> None:
    """Runs a search script twice on `root`: "first", which must SIGKILL itself, then "second", which must end well."""

    def run(stage: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(script), str(root), stage], env=child_env(),
                              capture_output=True, text=True, timeout=600, check=False)

    first = run("first")
    assert first.returncode == -signal.SIGKILL, first.stderr[-3000:]
    second = run("second")
    assert second.returncode == 0, second.stderr[-3000:]
