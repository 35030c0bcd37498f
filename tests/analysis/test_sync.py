"""`kt-wandb sync`'s choice of runs, from the trial records a search wrote (online, its upload: test_online.py)."""

from __future__ import annotations

import json
from pathlib import Path

from kt_wandb._records import RUN_RECORD
from kt_wandb.analysis import unsent_runs


def write_trial(project: Path, trial_id: str, attempts: list[dict]) -> list[str]:
    """A trial whose run record holds `attempts` (the last one current); returns their run folders."""
    folder = project / f"trial_{trial_id}"
    folder.mkdir(parents=True)
    (folder / "trial.json").write_text(json.dumps({"trial_id": trial_id, "status": "COMPLETED"}))
    runs = []
    for i, attempt in enumerate(attempts):
        run_dir = project / "wandb" / f"run-{trial_id}-{i}"
        run_dir.mkdir(parents=True)
        attempt["run_dir"] = str(run_dir)
        runs.append(str(run_dir))
    (folder / RUN_RECORD).write_text(json.dumps({**attempts[-1], "previous_attempts": attempts[:-1]}))
    return runs


def test_only_runs_the_server_is_known_to_hold_whole_are_left_out(tmp_path):
    sent = {"mode": "online", "exit_code": 0, "written": True}
    whole = write_trial(tmp_path, "0", [dict(sent)])
    offline = write_trial(tmp_path, "1", [{"mode": "offline", "exit_code": 0, "written": True}])
    timed_out = write_trial(tmp_path, "2", [{**sent, "upload_timed_out": True}])
    killed_then_sent = write_trial(tmp_path, "3", [{"mode": "online", "exit_code": None}, dict(sent)])
    cut_short = write_trial(tmp_path, "4", [{"mode": "online", "exit_code": 255}])  # finish interrupted
    assert whole and unsent_runs(tmp_path) == [*offline, *timed_out, killed_then_sent[0], *cut_short]
