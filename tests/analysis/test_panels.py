"""The W&B comparison panels, specified and built with no network."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import keras_tuner as kt
import pytest

from kt_wandb import WandbTuner
from kt_wandb._records import PANELS_RECORD
from kt_wandb.analysis import PanelColumn, PanelSpec, build_wandb_report, panel_spec, publish_panels
from tests.helpers.wandb_log import read_runs


def build(hp):
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(hp.Choice("units", [8, 16]), activation="relu"),
         keras.layers.Dense(10, activation="softmax")]
    )
    model.compile(keras.optimizers.Adam(hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def search(tmp_path, digits, capsys):
    tuner = WandbTuner(build, objective="val_loss", max_trials=2, seed=0, wandb_project="panels-test",
                       directory=str(tmp_path), project_name="panels")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=1)  # the closing hint follows verbose
    return tuner, capsys.readouterr().out


def test_the_spec_holds_the_hyperparameters_and_the_objective_of_exactly_this_search(search):
    tuner, _ = search
    spec = panel_spec(tuner.project_dir)
    assert spec.project == "panels-test" and spec.group == tuner.wandb_group
    assert spec.columns == [
        PanelColumn("config", "units"),
        PanelColumn("config", "learning_rate", log=True),
        PanelColumn("summary", "val_loss", inverted=True),  # minimised: better is up
    ]
    assert spec.filters == f"Metric('Group') == '{tuner.wandb_group}'"


def test_the_spec_holds_the_scatter_and_the_learning_curves_the_runs_logged(search, wandb_env):
    tuner, _ = search
    spec = panel_spec(tuner.project_dir)
    assert (spec.runs, spec.curve_x, spec.curve_y, spec.curve_runs) == (2, "epoch/epoch", ["epoch/val_loss"], 1000)
    assert spec.scatter_title == "val_loss by run creation time (lower is better)"
    assert spec.curves_title == "epoch/val_loss by epoch (lower is better)"  # every run drawn: no sampling said
    runs = read_runs(wandb_env)
    assert len(runs) == spec.runs
    for run in runs.values():  # the keys the panels name are the ones each run logged
        assert isinstance(run.summary[spec.objective], float)
        epochs = [row for row in run.history if spec.curve_y[0] in row]
        assert [row[spec.curve_x] for row in epochs] == [0]  # one epoch, at its absolute epoch
        assert run.metrics[spec.curve_y[0]].step_metric == spec.curve_x


def test_the_wandb_report_is_built_ungrouped_with_four_panels_in_one_grid(search):
    import wandb_workspaces.reports.v2 as wr
    from wandb_workspaces import expr

    tuner, _ = search
    report = build_wandb_report(panel_spec(tuner.project_dir, entity="team", project="elsewhere"))
    (grid,) = report.blocks
    (runset,) = grid.runsets
    assert (report.entity, report.project, runset.project) == ("team", "elsewhere", "elsewhere")
    assert runset.groupby == []  # W&B's importance panel shows nothing for grouped runs
    assert [(o.name, o.ascending) for o in runset.order] == [("CreatedTimestamp", False)]  # the latest first
    (condition,) = expr.expr_to_filters(runset.filters).filters or [expr.expr_to_filters(runset.filters)]
    assert (condition.key.name, condition.value) == ("group", tuner.wandb_group)
    scatter, coordinates, importance, curves = grid.panels
    assert [type(p) for p in grid.panels] == [
        wr.ScatterPlot, wr.ParallelCoordinatesPlot, wr.ParameterImportancePlot, wr.LinePlot,
    ]
    assert (scatter.x, scatter.y) == (wr.Metric("CreatedTimestamp"), wr.SummaryMetric("val_loss"))
    assert scatter.title == "val_loss by run creation time (lower is better)"
    assert [(c.metric.name, c.log, c.inverted) for c in coordinates.columns] == [
        ("units", None, None), ("learning_rate", True, None), ("val_loss", None, True),
    ]
    assert importance.with_respect_to == "val_loss"
    assert (curves.x, curves.y) == (wr.Metric("epoch/epoch"), [wr.Metric("epoch/val_loss")])
    assert (curves.max_runs_to_show, curves.title) == (1000, "epoch/val_loss by epoch (lower is better)")


def test_learning_curves_of_more_runs_than_wandb_draws_say_which_they_show():
    import wandb_workspaces.reports.v2 as wr

    spec = PanelSpec("team", "p", "g", "val_accuracy", "max", runs=1234, curve_x="epoch/epoch",
                     curve_y=["epoch/val_accuracy"])
    assert spec.scatter_title == "val_accuracy by run creation time (higher is better)"
    title = "epoch/val_accuracy by epoch (higher is better, the 1000 latest of 1234 runs)"
    assert spec.curves_title == title
    curves = build_wandb_report(spec).blocks[0].panels[-1]
    assert (type(curves), curves.max_runs_to_show, curves.title) == (wr.LinePlot, 1000, title)
    assert dataclasses.replace(spec, runs=1000).curves_title == "epoch/val_accuracy by epoch (higher is better)"


def test_several_executions_get_the_learning_curves_of_the_first(tmp_path, digits, wandb_env):
    tuner = WandbTuner(build, objective="val_loss", max_trials=1, executions_per_trial=2, seed=0,
                       wandb_project="panels-test", directory=str(tmp_path), project_name="executions")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    spec = panel_spec(tuner.project_dir)
    assert (spec.curve_x, spec.curve_y) == ("execution_0/epoch", ["execution_0/val_loss"])
    (run,) = read_runs(wandb_env).values()
    assert [row["execution_0/epoch"] for row in run.history if "execution_0/val_loss" in row] == [0]
    assert not any("epoch/val_loss" in row for row in run.history)  # each execution has keys of its own


def test_two_objectives_get_no_learning_curves_but_the_scatter_of_the_score_ranked(tmp_path, digits, wandb_env):
    """KerasTuner's MultiObjective ranks `multi_objective` (a sum of the objectives, each signed by its
    direction, scored after each fit): no epoch logs it, and the search's records don't name its parts."""
    import wandb_workspaces.reports.v2 as wr

    objectives = [kt.Objective("val_loss", "min"), kt.Objective("val_accuracy", "max")]
    tuner = WandbTuner(build, objective=objectives, max_trials=1, seed=0, wandb_project="panels-test",
                       directory=str(tmp_path), project_name="two")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    spec = panel_spec(tuner.project_dir, entity="team")  # an entity: no W&B login asked for one
    assert (spec.objective, spec.direction, spec.curve_x, spec.curve_y) == ("multi_objective", "min", None, [])
    (run,) = read_runs(wandb_env).values()
    assert "multi_objective" in run.summary and not any("epoch/multi_objective" in row for row in run.history)
    scatter, coordinates, importance = build_wandb_report(spec).blocks[0].panels  # no line plot
    assert (scatter.y, scatter.title) == (
        wr.SummaryMetric("multi_objective"), "multi_objective by run creation time (lower is better)",
    )
    assert coordinates.columns[-1].metric.name == importance.with_respect_to == "multi_objective"


def test_an_offline_search_says_the_one_command_that_publishes_its_panels(search):
    tuner, out = search
    assert f"kt-wandb sync {tuner.project_dir}" in out


def test_a_search_without_runs_is_refused_with_what_to_pass(tmp_path, digits):
    tuner = WandbTuner(build, objective="val_loss", max_trials=1, wandb_mode="disabled",
                       directory=str(tmp_path), project_name="off")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    with pytest.raises(ValueError, match="Expected a search run by WandbTuner with W&B runs"):
        panel_spec(tuner.project_dir)


@pytest.fixture
def report_server(online_wandb):
    """The W&B server double that `wandb.Api()` talks to, online, with a dummy key; after `search`, which ran
    offline. It lists the projects, so `Report.save()` creates none."""
    online_wandb.projects = ["panels-test", "elsewhere"]
    return online_wandb


def recorded_report(tuner) -> dict:
    return json.loads((Path(tuner.project_dir) / PANELS_RECORD).read_text())


def test_publishing_the_panels_again_updates_the_one_report_of_the_search(search, report_server):
    tuner, _ = search
    first = publish_panels(tuner.project_dir, entity="team")
    second = publish_panels(tuner.project_dir, entity="team")  # a notebook cell run again
    created, updated = report_server.upserts
    report_id = next(iter(report_server.views))
    assert created["id"] is None and updated["id"] == report_id  # an update of that view, not a second one
    assert list(report_server.views) == [report_id]
    assert first == second == f"{report_server.url}/team/panels-test/reports/{first.rsplit('/', 1)[1]}"
    assert first.endswith(f"--{report_id}")
    assert recorded_report(tuner) == {
        "id": report_id, "url": first, "entity": "team", "project": "panels-test",
        "title": panel_spec(tuner.project_dir).title,
    }


def test_the_published_report_holds_the_four_panels_with_their_metrics(search, report_server):
    tuner, _ = search
    publish_panels(tuner.project_dir, entity="team")
    (report,) = report_server.reports.values()
    assert (report.title, report.entity, report.project) == (panel_spec(tuner.project_dir).title, "team",
                                                             "panels-test")
    (runset,) = report.runsets
    assert runset["name"] == tuner.wandb_group
    panels = report.panels
    assert [p["viewType"] for p in panels] == [
        "Scatter Plot", "Parallel Coordinates Plot", "Parameter Importance", "Run History Line Plot",
    ]
    scatter, coordinates, importance, curves = (p["config"] for p in panels)
    assert (scatter["xAxis"], scatter["yAxis"]) == ("run:createdAt", "summary:val_loss")
    assert coordinates["columns"][-1]["accessor"] == "summary:val_loss"
    assert importance["targetKey"] == "val_loss"
    assert (curves["xAxis"], curves["metrics"], curves["limit"]) == ("epoch/epoch", ["epoch/val_loss"], 1000)


def test_a_report_deleted_in_wandb_is_replaced_once_by_a_new_one_which_is_recorded(search, report_server, capsys):
    tuner, _ = search
    first = publish_panels(tuner.project_dir, entity="team")
    (deleted,) = report_server.views
    del report_server.views[deleted]  # deleted by the user in W&B
    second = publish_panels(tuner.project_dir, entity="team")
    (replacement,) = report_server.views
    assert [u["id"] for u in report_server.upserts] == [None, deleted, None]  # refused, then one new report
    assert replacement != deleted and second != first and second.endswith(f"--{replacement}")
    assert (recorded_report(tuner)["id"], recorded_report(tuner)["url"]) == (replacement, second)
    assert f"could not update the W&B report {deleted}" in capsys.readouterr().err
    publish_panels(tuner.project_dir, entity="team")
    assert report_server.upserts[-1]["id"] == replacement  # and it's the one updated from then on


def test_another_wandb_project_gets_a_report_of_its_own(search, report_server):
    tuner, _ = search
    publish_panels(tuner.project_dir, entity="team")
    elsewhere = publish_panels(tuner.project_dir, entity="team", project="elsewhere")
    assert [(u["id"], u["projectName"]) for u in report_server.upserts] == [
        (None, "panels-test"), (None, "elsewhere"),
    ]
    assert (recorded_report(tuner)["project"], recorded_report(tuner)["url"]) == ("elsewhere", elsewhere)


def test_runs_logged_without_an_entity_get_their_report_in_the_logins_default_entity(search, report_server):
    tuner, _ = search  # as on_search_end publishes it: no entity given, none in the run records
    assert panel_spec(tuner.project_dir).entity is None
    url = publish_panels(tuner.project_dir)
    (upsert,) = report_server.upserts
    assert upsert["entityName"] == "team" and "/team/panels-test/reports/" in url  # not ".../reports" under "//"
    assert recorded_report(tuner)["entity"] == "team"


def test_a_report_that_fails_to_update_for_another_reason_is_not_duplicated(search, report_server):
    tuner, _ = search
    first = publish_panels(tuner.project_dir, entity="team")
    report_server.update_error = "internal server error, try again later"  # an outage, not a deleted report
    with pytest.raises(Exception, match="try again later"):
        publish_panels(tuner.project_dir, entity="team")
    assert len(report_server.views) == 1 and recorded_report(tuner)["url"] == first  # no second report
    report_server.update_error = None
    assert publish_panels(tuner.project_dir, entity="team") == first and len(report_server.views) == 1
