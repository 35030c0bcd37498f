"""A search killed mid-trial, then started again: every finished trial kept, no run duplicated."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers.environment import CHILD_SEARCH, child_env
from tests.helpers.wandb_log import read_runs

SCRIPT = textwrap.dedent(
    """
    import os, pathlib, sys
    import keras
    from sklearn.datasets import load_digits
    from kt_wandb import WandbTuner

    root, stage = pathlib.Path(sys.argv[1]), sys.argv[2]

    class MarkSecondTrial(keras.callbacks.Callback):
        fits = 0  # shared by KerasTuner's copies

        def on_train_begin(self, logs=None):
            MarkSecondTrial.fits += 1

        def on_epoch_end(self, epoch, logs=None):
            if MarkSecondTrial.fits == 2 and epoch == 2:
                (root / "in-second-trial").touch()

    """
) + CHILD_SEARCH + textwrap.dedent(
    """
    tuner = WandbTuner(build, objective="val_accuracy", oracle=os.environ.get("ORACLE", "random"), max_trials=3, seed=0,
                       directory=str(root), project_name="crash", overwrite=(stage == "first"))
    callbacks = [MarkSecondTrial()] if stage == "first" else []
    tuner.search(x, y, epochs=400 if stage == "first" else 3, validation_split=0.25, verbose=0, callbacks=callbacks)
    print("DONE", len(tuner.oracle.trials))
    """
)


def start(script: Path, root: Path, stage: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), str(root), stage], env=child_env(**env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sent", "exit_code"),
    [(signal.SIGKILL, None), (signal.SIGTERM, 255), (signal.SIGINT, 255), (signal.SIGHUP, 255)],
    ids=["SIGKILL", "SIGTERM", "Ctrl-C", "SIGHUP"],
)
def test_a_search_killed_mid_trial_resumes_without_losing_or_duplicating(tmp_path, wandb_env, sent, exit_code):
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    root = tmp_path / "search"
    root.mkdir()
    first = start(script, root, "first")
    deadline = time.monotonic() + 300
    while not (root / "in-second-trial").exists():
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the second trial never started"
        time.sleep(0.1)
    first.send_signal(sent)
    first.wait(timeout=120)
    assert first.returncode != 0

    trial_0 = json.loads((root / "crash" / "trial_0" / "wandb_run.json").read_text())
    torn = root / "crash" / "trial_1" / "wandb_run.json"
    if sent == signal.SIGKILL:  # killed as it rewrote the record (an older version wrote it in place): torn
        torn.write_text(torn.read_text()[:60])
    second = start(script, root, "resume")
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-3000:]
    assert "DONE 3" in out

    statuses = {
        p.parent.name: json.loads(p.read_text())["status"] for p in (root / "crash").glob("trial_*/trial.json")
    }
    assert statuses == {"trial_0": "COMPLETED", "trial_1": "COMPLETED", "trial_2": "COMPLETED"}
    # The finished trial was neither run again nor rewritten.
    assert json.loads((root / "crash" / "trial_0" / "wandb_run.json").read_text()) == trial_0

    runs = read_runs(wandb_env)  # raises if any run id was written twice
    search_id = trial_0["run_id"].rsplit("-", 1)[0]
    assert sorted(runs) == sorted(f"{search_id}-{t}" for t in ("0", "1", "1-r1", "2"))
    interrupted, again = runs[f"{search_id}-1"], runs[f"{search_id}-1-r1"]
    assert interrupted.exit_code == exit_code  # None: killed, the log has no exit record (W&B: crashed)
    if sent != signal.SIGKILL:
        assert interrupted.history  # finished cleanly: what it logged is there, and can be synced
    # Under SIGKILL wandb's service stops with its buffer unwritten (wandb 0.31): the killed run's log may
    # hold nothing past its header. The trial's own record keeps the attempt.
    assert again.exit_code == 0 and again.summary["trial/previous_run"] == f"{search_id}-1"
    assert again.summary["trial/attempt"] == 1
    assert all(runs[f"{search_id}-{t}"].exit_code == 0 for t in ("0", "2"))
    record = json.loads(torn.read_text())
    assert [a["run_id"] for a in record["previous_attempts"]] == [f"{search_id}-1"]
    assert record["previous_attempts"][0]["exit_code"] == exit_code
    assert record["previous_attempts"][0].get("unreadable", False) == (sent == signal.SIGKILL)


@pytest.mark.slow
def test_a_grid_search_killed_mid_trial_resumes_in_grid_order(tmp_path, wandb_env):
    # KerasTuner's own grid oracle stops a resumed search with KeyError: it keeps its grid order in memory only.
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    root = tmp_path / "search"
    root.mkdir()
    first = start(script, root, "first", ORACLE="grid")
    deadline = time.monotonic() + 300
    while not (root / "in-second-trial").exists():
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the second trial never started"
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=120)
    second = start(script, root, "resume", ORACLE="grid")
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-3000:]
    assert "DONE 3" in out
    trials = [json.loads(p.read_text()) for p in sorted((root / "crash").glob("trial_*/trial.json"))]
    assert [t["status"] for t in trials] == ["COMPLETED"] * 3
    assert [t["hyperparameters"]["values"]["units"] for t in trials] == [8, 16, 24]  # the grid's first three
