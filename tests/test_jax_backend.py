"""The tuner under Keras's JAX backend, in a fresh interpreter (a backend is fixed at import)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

from tests.helpers.environment import child_env
from tests.helpers.wandb_log import read_runs

SCRIPT = textwrap.dedent(
    """
    import sys
    import keras
    assert keras.config.backend() == "jax", keras.config.backend()
    from sklearn.datasets import load_digits
    from kt_wandb import WandbTuner
    from kt_wandb.models import MLPHyperModel

    digits = load_digits()
    x, y = (digits.data[:300] / 16.0).astype("float32"), digits.target[:300]
    # W&B logging alone imports no TensorFlow under JAX, even where it is installed. (TensorBoard's own
    # writer, below, imports it where it is installed and uses its stub where it isn't.)
    alone = WandbTuner(MLPHyperModel((64,), 10), objective="val_accuracy", oracle="random", max_trials=1,
                       directory=sys.argv[1], project_name="jax-wandb-only")
    alone.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    print("TENSORFLOW IMPORTED" if "tensorflow" in sys.modules else "NO TENSORFLOW")
    tuner = WandbTuner(MLPHyperModel((64,), 10), objective="val_accuracy", oracle="hyperband",
                       max_epochs=3, factor=3, max_trials=4, directory=sys.argv[1], project_name="jax",
                       tensorboard_dir=sys.argv[1] + "/tb")
    tuner.search(x, y, epochs=3, validation_split=0.25, verbose=0)
    print("SCORES", [t.score for t in tuner.oracle.trials.values()])
    """
)


def alone_id(out: str) -> str:
    """The search id of the script's first, W&B-only search, from its notice on stderr."""
    return out.split("runs of search 'jax-wandb-only-", 1)[1].split("'", 1)[0]


@pytest.mark.slow
def test_a_search_under_jax_logs_every_trial(tmp_path, wandb_env):
    if importlib.util.find_spec("jax") is None:
        if os.environ.get("CI"):
            pytest.fail("jax is missing: install the test extra, pip install -e '.[test]'")
        pytest.skip("jax is not installed (pip install -e '.[test]')")
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    env = child_env(KERAS_BACKEND="jax")
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "search")],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "NO TENSORFLOW" in result.stdout, result.stdout  # the search needs no TensorFlow under JAX
    runs = {k: r for k, r in read_runs(wandb_env).items() if not k.startswith(alone_id(result.stderr))}
    assert len(runs) == 4
    for run in runs.values():
        assert run.exit_code == 0
        assert run.history and all("epoch/val_accuracy" in row for row in run.history)
        assert isinstance(run.summary["val_accuracy"], float)
    assert any(r.summary.get("hyperband/continued_from") for r in runs.values())
    # TensorBoard HParams under JAX too: one session per trial with its curve.
    sessions = sorted(p.name for p in (tmp_path / "search" / "tb").iterdir() if p.is_dir())
    assert sessions == sorted(r.summary["trial/id"] for r in runs.values())
    assert all(list((tmp_path / "search" / "tb" / s).glob("events.out.tfevents.*")) for s in sessions)
