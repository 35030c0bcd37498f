"""The trial records' seam (`kt_wandb._records`): what the tuner writes and the analysis and the CLI read."""

from __future__ import annotations

from kt_wandb._records import Status, pruned_at, searched_values, trial_status


def test_a_trials_status_is_keras_tuners_and_pruned_where_a_pruner_stopped_it():
    stopped = {"pruned": {"epoch": 2, "part": 0}}
    assert trial_status("COMPLETED", stopped) == Status.PRUNED == "PRUNED" and pruned_at(stopped) == 2
    assert trial_status("COMPLETED", {}) == "COMPLETED" and pruned_at({}) is None
    assert trial_status("FAILED", stopped) == "FAILED"  # a failure stays one


def test_a_trials_hyperparameters_leave_keras_tuners_bookkeeping_out():
    values = {"units": 8, "tuner/epochs": 3, "tuner/trial_id": "0001", "block.rate": 0.1}
    assert searched_values(values) == {"units": 8, "block.rate": 0.1}
