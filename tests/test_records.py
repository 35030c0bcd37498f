"""The trial records' seam (`kt_wandb._records`): what the tuner writes and the analysis and the CLI read."""

from __future__ import annotations

import json

from kt_wandb._records import Status, Summary, TrialRecord, searched_values, trial_status


def test_a_trials_status_is_keras_tuners_and_pruned_where_a_pruner_stopped_it():
    stopped = TrialRecord.from_json({"pruned": {"epoch": 2, "part": 0}})
    assert trial_status("COMPLETED", stopped) == Status.PRUNED == "PRUNED" and stopped.pruned_at == 2
    assert trial_status("COMPLETED", TrialRecord()) == "COMPLETED" and TrialRecord().pruned_at is None
    assert trial_status("FAILED", stopped) == "FAILED"  # a failure stays one


def test_a_run_record_reads_back_as_written_and_keeps_what_a_newer_version_added():
    written = {
        "run_id": "s-1-r1", "mode": "offline", "exit_code": 0, "written": True,
        "history": [[{"epoch": 0, "loss": 1.0}]], "fold_scores": [0.5, 0.7], "pruned": {"epoch": 1, "part": 0},
        "previous_attempts": [{"run_id": "s-1", "exit_code": None, "mode": "offline"}],
        "from_a_newer_version": {"x": 1},
    }
    record = TrialRecord.from_json(json.loads(json.dumps(written)))
    assert record.fold_scores == record.scores("fold") == [0.5, 0.7] and record.scores("execution") == []
    assert record.previous_attempts[0].exit_code is None and record.previous_attempts[0].run_id == "s-1"
    assert record.extra == {"from_a_newer_version": {"x": 1}}
    assert record.to_json() == written  # nothing lost, nothing added: older readers read it as before


def test_a_record_leaves_out_what_was_never_set_as_older_versions_did():
    assert TrialRecord(run_id="s-0").to_json() == {"run_id": "s-0", "previous_attempts": []}
    assert "upload_timed_out" not in TrialRecord(run_id="s-0", upload_timed_out=False).to_json()


def test_hyperbands_summary_entries_come_from_keras_tuners_values():
    values = {"tuner/bracket": 1, "tuner/round": 0, "tuner/epochs": 2, "tuner/initial_epoch": 0,
              "tuner/trial_id": None}
    assert Summary.hyperband(values) == {"hyperband/bracket": 1, "hyperband/round": 0, "hyperband/epochs": 2,
                                         "hyperband/initial_epoch": 0, "hyperband/continued_from": None}
    assert Summary.hyperband({"units": 8}) == {}


def test_a_trials_hyperparameters_leave_keras_tuners_bookkeeping_out():
    values = {"units": 8, "tuner/epochs": 3, "tuner/trial_id": "0001", "block.rate": 0.1}
    assert searched_values(values) == {"units": 8, "block.rate": 0.1}
