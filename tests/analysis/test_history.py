"""Optimisation history, slices and the report's overview, computed from a results table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kt_wandb.analysis._history import history_figure, optimization_history, searches_figure
from kt_wandb.analysis._overview import overview_html
from kt_wandb.analysis._slices import slices, slices_figure

SPACE = {
    "learning_rate": {"class": "Float", "sampling": "log"},
    "units": {"class": "Choice", "values": [8, 16, 32]},
    "extra": {"class": "Int", "sampling": "linear"},  # conditional: only some trials have it
}


def table() -> pd.DataFrame:
    # Started in trial order, but trial 2 ends first: the history follows the order trials ended.
    rows = [
        ("0", "COMPLETED", 0.50, "2026-01-01T00:00:00+00:00", 10.0, 1e-3, 8, 1.0, None),
        ("1", "FAILED", None, "2026-01-01T00:00:01+00:00", 20.0, 1e-2, 16, np.nan, "ValueError: <b>bad</b>"),
        ("2", "COMPLETED", 0.70, "2026-01-01T00:00:02+00:00", 3.0, 1e-4, 16.0, 2.0, None),
        ("3", "PRUNED", 0.40, "2026-01-01T00:00:30+00:00", 1.0, 1e-1, 32, np.nan, None),
        ("4", "RUNNING", None, "2026-01-01T00:00:40+00:00", np.nan, 1e-3, 8, np.nan, None),
        ("5", "COMPLETED", 0.60, "2026-01-01T00:00:41+00:00", 2.0, 1e-3, 32, 3.0, None),
    ]
    frame = pd.DataFrame(rows, columns=["trial_id", "status", "score", "started", "duration_s",
                                        "param_learning_rate", "param_units", "param_extra", "error"])
    frame["wandb_run_id"] = [f"s-{i}" for i in range(6)]
    frame["wandb_run_dir"] = [f"/runs/wandb/offline-run-{i}" for i in range(6)]
    frame["wandb_url"] = None
    return frame


def test_the_history_is_in_the_order_trials_ended_with_a_monotone_best_so_far():
    history = optimization_history(table(), "max")
    assert list(history.trial_id) == ["2", "0", "1", "3", "5"]  # by end time; the running trial is left out
    assert list(history.number) == [1, 2, 3, 4, 5]
    assert list(history.ended_s) == pytest.approx([5.0, 10.0, 21.0, 31.0, 43.0])
    assert math.isnan(history.score[2])  # the failed trial has no score, not a zero
    assert list(history.best_so_far) == pytest.approx([0.7, 0.7, 0.7, 0.7, 0.7])
    minimised = optimization_history(table(), "min")
    assert list(minimised.best_so_far) == pytest.approx([0.7, 0.5, 0.5, 0.4, 0.4])
    assert (np.diff(minimised.best_so_far) <= 0).all()


def test_the_history_chart_shows_each_status_apart_and_switches_to_time():
    history = optimization_history(table(), "max")
    figure = history_figure(history, "val_accuracy", "max")
    by_name = {trace["name"]: trace for trace in figure["data"]}
    assert by_name["completed"]["y"] == pytest.approx([0.7, 0.5, 0.6])
    assert by_name["pruned"]["y"] == pytest.approx([0.4])
    failed = by_name["failed (no score)"]
    assert failed["x"] == [3] and failed["yaxis"] == "y2"  # along the bottom, apart from the scores
    assert by_name["best so far"]["line"]["shape"] == "hv"
    assert by_name["best so far"]["customdata"] == pytest.approx(list(history.ended_s))  # what "by time" shows
    two = searches_figure({"random": history, "bayesian": history.iloc[:2]}, "val_accuracy", "max")
    assert [t["name"] for t in two["data"]] == ["random", "bayesian"] and len(two["data"][1]["x"]) == 2


def test_each_hyperparameter_gets_its_slice_on_the_right_axis():
    charts = {chart.name: chart for chart in slices(table(), SPACE)}
    rate, units, extra = charts["learning_rate"], charts["units"], charts["extra"]
    assert rate.kind == "log" and rate.trial_ids == ["0", "2", "3", "5"]  # the trials with a score
    assert units.kind == "category" and units.values == ["8", "16", "32", "32"]  # 16.0 reads as the choice 16
    assert units.categories == ["8", "16", "32"]
    assert extra.kind == "linear" and extra.trial_ids == ["0", "2", "5"]  # only where the conditional one is
    figure = slices_figure(list(charts.values()), "val_accuracy", "max")
    assert [len(t["x"]) for t in figure["data"]] == [4, 4, 3]
    assert figure["layout"]["xaxis"]["type"] == "log" and figure["layout"]["xaxis2"]["type"] == "category"
    assert figure["layout"]["xaxis3"]["anchor"] == "y3"


def test_the_overview_counts_statuses_names_errors_and_links_the_best_run():
    text = overview_html(table(), "val_accuracy", "max")
    for count, status in [(3, "completed"), (1, "pruned"), (1, "running"), (1, "failed")]:
        assert f"<b>{count}</b> {status}" in text
    assert "&lt;b&gt;bad&lt;/b&gt;" in text and "<b>bad</b>" not in text  # errors shown as text
    assert "Best: trial 2, val_accuracy = 0.7" in text
    assert 'href="file:///runs/wandb/offline-run-2"' in text and "wandb sync /runs/wandb/offline-run-2" in text
