"""The W&B comparison panels, specified and built with no network."""

from __future__ import annotations

import keras
import pytest

from kt_wandb import WandbTuner
from kt_wandb.analysis import PanelColumn, build_wandb_report, panel_spec


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


def test_the_wandb_report_is_built_ungrouped_with_both_panels(search):
    from wandb_workspaces import expr

    tuner, _ = search
    report = build_wandb_report(panel_spec(tuner.project_dir, entity="team", project="elsewhere"))
    (grid,) = report.blocks
    (runset,) = grid.runsets
    assert (report.entity, report.project, runset.project) == ("team", "elsewhere", "elsewhere")
    assert runset.groupby == []  # W&B's importance panel shows nothing for grouped runs
    (condition,) = expr.expr_to_filters(runset.filters).filters or [expr.expr_to_filters(runset.filters)]
    assert (condition.key.name, condition.value) == ("group", tuner.wandb_group)
    coordinates, importance = grid.panels
    assert [(c.metric.name, c.log, c.inverted) for c in coordinates.columns] == [
        ("units", None, None), ("learning_rate", True, None), ("val_loss", None, True),
    ]
    assert importance.with_respect_to == "val_loss"


def test_an_offline_search_says_the_one_command_that_publishes_its_panels(search):
    tuner, out = search
    assert f"kt-wandb panels {tuner.project_dir}" in out


def test_a_search_without_runs_is_refused_with_what_to_pass(tmp_path, digits):
    tuner = WandbTuner(build, objective="val_loss", max_trials=1, wandb_mode="disabled",
                       directory=str(tmp_path), project_name="off")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    with pytest.raises(ValueError, match="Expected a search run by WandbTuner with W&B runs"):
        panel_spec(tuner.project_dir)
