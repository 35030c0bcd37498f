"""A trial's run record (`wandb_run.json`): written whole, and a torn one read as a crashed attempt."""

from __future__ import annotations

import json

from kt_wandb._records import read_json, write_json
from kt_wandb.tuners._trial_run import previous_attempts


def test_a_record_is_replaced_whole_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / "trial_0").mkdir()
    path = tmp_path / "trial_0" / "wandb_run.json"
    write_json(path, {"run_id": "abc-1", "history": [[{"epoch": 0}]] * 200})
    inode = path.stat().st_ino
    write_json(path, {"run_id": "abc-1", "exit_code": 0})
    assert read_json(path) == {"run_id": "abc-1", "exit_code": 0}
    assert path.stat().st_ino != inode  # a new file renamed over the old one, never the old one rewritten
    assert [p.name for p in path.parent.iterdir()] == ["wandb_run.json"]


def test_a_torn_record_is_a_crashed_attempt_and_the_next_run_id_is_new(tmp_path):
    path = tmp_path / "wandb_run.json"
    whole = json.dumps({"run_id": "abc-1-r2", "name": "trial-1", "previous_attempts": [
        {"run_id": "abc-1", "exit_code": 255}, {"run_id": "abc-1-r1", "exit_code": 1}]}, indent=2)
    path.write_text(whole[:40])  # killed mid-write, by an older version that wrote in place
    attempts = previous_attempts(path)
    assert len(attempts) == 3  # so the next attempt is -r3, not a run id already used
    assert attempts[-1].to_json(top=False) == {"run_id": "abc-1-r2", "unreadable": True}
    assert attempts[-1].exit_code is None
    assert (tmp_path / "wandb_run.json.unreadable").read_text() == whole[:40]  # kept for a look
    assert read_json(path) == {}  # the results table reads it as a trial without a run record


def test_a_record_torn_before_its_run_id_is_a_first_attempt(tmp_path):
    path = tmp_path / "wandb_run.json"
    path.write_text('{\n  "run')
    assert [a.to_json(top=False) for a in previous_attempts(path)] == [{"run_id": None, "unreadable": True}]
    assert previous_attempts(tmp_path / "missing.json") == []


def test_the_sync_command_quotes_folders_a_shell_would_split(tmp_path):
    import shlex

    from kt_wandb.tuners._trial_run import WandbSession

    drive = tmp_path / "My Drive"
    session = WandbSession({"dir": str(drive), "mode": "online"}, "abc123")
    session.unsent.append(str(drive / "wandb" / "run-1-abc123-0"))
    words = shlex.split(session.sync_command())  # as the shell splits it (the glob's * kept)
    assert words == ["wandb", "sync", "--include-online", str(drive / "wandb" / "run-1-abc123-0"),
                     f"{drive}/wandb/offline-run-*-abc123-*"]
