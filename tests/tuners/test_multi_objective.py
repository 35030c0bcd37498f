"""A search with two objectives (KerasTuner's `MultiObjective`) through every feature: W&B, table, report,
TensorBoard HParams, cross-validation and pruning."""

from __future__ import annotations

import json
import re
from pathlib import Path

import keras_tuner as kt
import pytest

from kt_wandb import Pruner, WandbTuner
from tests.helpers.tensorboard_events import accumulate, scalars
from tests.helpers.wandb_log import read_runs

OBJECTIVES = [kt.Objective("val_accuracy", "max"), kt.Objective("val_loss", "min")]


def test_two_objectives_in_every_feature(tmp_path, wandb_env, digits, tiny_model):
    from tensorboard.plugins.hparams import api_pb2, metadata

    logdir = tmp_path / "tb"
    tuner = WandbTuner(tiny_model, objective=OBJECTIVES, oracle="random", max_trials=2, seed=0,
                       directory=str(tmp_path), project_name="two", tensorboard_dir=str(logdir))
    tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0)
    trials = tuner.oracle.trials
    assert [t.status for t in trials.values()] == ["COMPLETED"] * 2

    runs = read_runs(wandb_env)
    for trial_id, trial in trials.items():
        summary = runs[f"{tuner.search_id}-{trial_id}"].summary
        assert summary["multi_objective"] == pytest.approx(trial.score)  # the score the oracle ranked
        assert summary["best_epoch"] == trial.best_step and {"val_accuracy", "val_loss"} <= set(summary)
        # TensorBoard: each session succeeded and holds the objective the experiment tracks.
        accumulator = accumulate(logdir / trial_id)
        content = accumulator.PluginTagToContent(metadata.PLUGIN_NAME)
        end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
        assert end.status == api_pb2.STATUS_SUCCESS
        ((step, value),) = scalars(accumulator, "multi_objective")
        assert value == pytest.approx(trial.score, abs=1e-5) and step == trial.best_step
    experiment = metadata.parse_experiment_plugin_data(
        accumulate(logdir).PluginTagToContent(metadata.PLUGIN_NAME)[metadata.EXPERIMENT_TAG]
    )
    assert "multi_objective" in {m.name.tag for m in experiment.metric_infos}

    frame = tuner.results_frame()
    assert sorted(frame.score) == pytest.approx(sorted(t.score for t in trials.values()))
    assert frame.best_val_accuracy.notna().all() and frame.best_val_loss.notna().all()
    report = Path(tuner.report()).read_text()
    assert "multi_objective" in report
    # The report's table: its rows, as the page's script gets them (the JSON payload), one per trial with the
    # score the oracle ranked by and both objectives' values.
    rows = {row["trial_id"]: row for row in report_rows(report)}
    assert sorted(rows) == sorted(trials)
    for trial_id, trial in trials.items():
        row = rows[trial_id]
        assert row["status"] == "COMPLETED" and row["score"] == pytest.approx(trial.score)
        for name in ("val_accuracy", "val_loss"):
            assert row[f"metric_{name}"] == pytest.approx(trial.metrics.get_last_value(name)), name
        assert row["W&B run"] == f"{tuner.search_id}-{trial_id}"


def report_rows(html: str) -> list[dict]:
    """The report's trials table as its page's script reads it: the `trials-data` JSON, each row by column."""
    found = re.search(r'<script type="application/json" id="trials-data">(.*?)</script>', html, flags=re.S)
    assert found is not None, "no trials table in the report"
    table = json.loads(found.group(1))
    # Each row: its shown values and its run's id (the columns), then where the run opens, left out here.
    return [dict(zip(table["columns"], row[:-1], strict=True)) for row in table["rows"]]


def test_two_objectives_with_cross_validation(tmp_path, wandb_env, digits, tiny_model):
    tuner = WandbTuner(tiny_model, objective=OBJECTIVES, oracle="random", max_trials=1, seed=0,
                       directory=str(tmp_path), project_name="two-cv")
    tuner.search(*digits, epochs=1, cv=2, verbose=0)
    (trial,) = tuner.oracle.trials.values()
    (run,) = read_runs(wandb_env).values()
    folds = [run.summary["fold_0/multi_objective"], run.summary["fold_1/multi_objective"]]
    assert trial.status == "COMPLETED" and sum(folds) / 2 == pytest.approx(trial.score)
    assert run.summary["cv/folds"] == 2


class PruneSecondTrial(Pruner):
    def __init__(self):
        self.seen = []

    def prune(self, trial_id, epoch, curves):
        self.seen.append((trial_id, epoch, curves.values[trial_id][epoch], curves.direction))
        return len({t for t, *_ in self.seen}) == 2


def test_two_objectives_are_pruned_on_the_score_the_oracle_ranks(tmp_path, wandb_env, digits, tiny_model):
    pruner = PruneSecondTrial()
    tuner = WandbTuner(tiny_model, objective=OBJECTIVES, oracle="random", max_trials=2, seed=0, pruner=pruner,
                       directory=str(tmp_path), project_name="two-pruned")
    tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0)
    runs = read_runs(wandb_env)
    first, second = sorted(tuner.oracle.trials)
    for trial_id, epoch, value, direction in pruner.seen:
        row = runs[f"{tuner.search_id}-{trial_id}"].history[epoch]
        assert value == pytest.approx(row["epoch/val_loss"] - row["epoch/val_accuracy"])  # as KerasTuner sums them
        assert direction == "min"
    pruned = runs[f"{tuner.search_id}-{second}"]
    assert "pruned" in pruned.tags and len(pruned.history) == 1
    assert pruned.summary["multi_objective"] == pytest.approx(tuner.oracle.trials[second].score)
    assert len(runs[f"{tuner.search_id}-{first}"].history) == 2
