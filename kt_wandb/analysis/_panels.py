"""W&B comparison panels built in code: a report of one search, like W&B's sweep page.

`panel_spec` computes, from the search's records and with no network, what the
W&B report holds; `build_wandb_report` turns it into a `wandb_workspaces` report
(the optional extra `kt-wandb[panels]`); `publish_panels` saves it to W&B, one report
per search, updated in place on later calls.

The report's one panel grid holds, over a runset of exactly this search's runs:

- a scatter of the objective (from each run's summary) against the run's creation
  time, the chart W&B's sweep page opens with: how the search progressed;
- parallel coordinates, an axis per hyperparameter and the objective;
- the hyperparameters' importance with respect to the objective;
- the learning curves: the objective at each epoch of each run, where the runs
  logged it per epoch (not for KerasTuner's `MultiObjective`: see `panel_spec`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kt_wandb._direction import Direction
from kt_wandb._log import logger
from kt_wandb._records import IDENTITY_FILE, PANELS_RECORD, TrialRecord, config_key, read_json, write_json
from kt_wandb.analysis._results import load_trials, search_space

__all__ = ["PanelColumn", "PanelSpec", "build_wandb_report", "panel_spec", "publish_panels"]

# The most runs a W&B workspace displays ("a workspace is limited to displaying a maximum of 1000 runs",
# W&B's line plot reference): the learning-curve panel draws up to this many instead of W&B's default 10.
MAX_CURVE_RUNS = 1000
# How wandb_workspaces names a run's creation time (`Metric("CreatedTimestamp")`, sent as `run:createdAt`).
RUN_CREATED = "CreatedTimestamp"
_LOGGED = ("online", "offline")  # the modes of a run record that has a W&B run


@dataclass(frozen=True)
class PanelColumn:
    """One parallel-coordinates axis: a config key (hyperparameter) or a summary key (objective)."""

    source: str  # "config" or "summary"
    name: str
    log: bool = False
    inverted: bool = False


@dataclass(frozen=True)
class PanelSpec:
    """What the W&B report of one search holds.

    Attributes:
        entity: The W&B entity; None for the login's default one.
        project: The W&B project.
        group: The runs' group: this search's runs.
        objective: The summary key of the score the oracle ranked (`multi_objective` for several).
        direction: "min" or "max".
        columns: The parallel-coordinates axes.
        runs: How many W&B runs the search has (each attempt at a trial is one).
        curve_x: The learning curves' x, the epochs' step metric (such as `epoch/epoch`, the
            absolute epoch); None where the runs logged no curve of the objective: no such panel.
        curve_y: The learning curves' history keys (such as `["epoch/val_loss"]`).
        curve_runs: The most runs the learning-curve panel draws (W&B draws 10 by default).
    """

    entity: str | None
    project: str
    group: str
    objective: str
    direction: str
    columns: list[PanelColumn] = field(default_factory=list)
    runs: int = 0
    curve_x: str | None = None
    curve_y: list[str] = field(default_factory=list)
    curve_runs: int = MAX_CURVE_RUNS

    @property
    def filters(self) -> str:
        """The runset's filter: exactly this search's runs."""
        return f"Metric('Group') == {self.group!r}"

    @property
    def title(self) -> str:
        return f"kt-wandb search {self.group}: {self.objective}"

    @property
    def better(self) -> str:
        """Which way the objective is better: "lower is better" or "higher is better"."""
        return Direction(self.direction).text

    @property
    def scatter_title(self) -> str:
        """The title of the scatter of the objective against the runs' creation time."""
        return f"{self.objective} by run creation time ({self.better})"

    @property
    def curves_title(self) -> str:
        """The title of the learning curves; it says so where they leave runs out."""
        sampled = f", the {self.curve_runs} latest of {self.runs} runs" if self.runs > self.curve_runs else ""
        return f"{', '.join(self.curve_y)} by epoch ({self.better}{sampled})"


def panel_spec(
    project_dir: str | os.PathLike[str], *, entity: str | None = None, project: str | None = None
) -> PanelSpec:
    """The W&B report of a search, from its records (no network).

    The scatter plots the objective from each run's summary (the score the
    oracle ranked) against the run's creation time. The parallel-coordinates
    panel has an axis per hyperparameter (log-scaled where the hyperparameter
    is log-sampled) and the objective (inverted when minimised, so better is
    up). The parameter-importance panel is with respect to the objective. The
    learning curves plot `epoch/<objective>` against `epoch/epoch` (the
    absolute epoch) for up to `MAX_CURVE_RUNS` runs, the latest first; where
    trials ran several executions or folds, each logged its own keys
    (`execution_<i>/…`, `fold_<i>/…`, each with its own step) and the panel
    draws the first one's. It is left out where no run logged the objective
    at an epoch: so for KerasTuner's `MultiObjective`, whose `multi_objective`
    is a sum of its objectives scored after each fit, and whose objectives
    the search's records don't name. The runset holds this search's runs by
    their group, *ungrouped*: W&B's importance panel shows nothing for
    grouped runs.

    Args:
        project_dir: The search's project directory.
        entity: The W&B entity; by default the one the runs were logged to.
        project: The W&B project; by default the one the runs were logged to.

    Raises:
        ValueError: When the search has no W&B runs or no objective recorded.
    """
    trials = load_trials(project_dir)
    records = [r for r in (TrialRecord.from_json(t["wandb"]) for t in trials) if r.mode in _LOGGED]
    facts = read_json(Path(project_dir) / IDENTITY_FILE)
    if not records or "objective" not in facts:
        raise ValueError(
            f"Expected a search run by WandbTuner with W&B runs, received {str(project_dir)!r}, which has "
            f"{len(records)} run records and {'an' if 'objective' in facts else 'no'} objective recorded. "
            f"To fix, pass the project directory of a WandbTuner search that logged to W&B."
        )
    columns = [
        PanelColumn("config", config_key(name), log=config.get("sampling") == "log")
        for name, config in search_space(trials).items()
    ]
    columns.append(PanelColumn("summary", facts["objective"], inverted=facts.get("direction") == "min"))
    curve_x, curve_y = _learning_curves(facts["objective"], records)
    return PanelSpec(
        entity=entity or records[-1].entity,
        project=project or records[-1].project or "uncategorized",
        group=str(records[-1].group),
        objective=facts["objective"],
        direction=facts.get("direction", "max"),
        columns=columns,
        runs=_run_count(records),
        curve_x=curve_x,
        curve_y=curve_y,
    )


def _run_count(records: list[TrialRecord]) -> int:
    """The search's W&B runs: each trial's, and those of its earlier attempts (each attempt is a run)."""
    return sum(1 + sum(a.mode in _LOGGED for a in r.previous_attempts) for r in records)


def _learning_curves(objective: str, records: list[TrialRecord]) -> tuple[str | None, list[str]]:
    """The learning curves' x and y keys, or (None, []) where no run logged the objective at an epoch.

    Each run logs its epochs under `epoch/<metric>` with the step metric `epoch/epoch`; where
    trials ran several executions or folds (recorded with their scores), under `execution_<i>/…`
    or `fold_<i>/…` instead, each with its own step: the first one's.
    """
    if not any(objective in epoch for r in records for curve in r.history or [] for epoch in curve):
        return None, []  # KerasTuner's MultiObjective: `multi_objective` is no epoch's metric
    kinds = [kind for kind in ("fold", "execution") if any(r.scores(kind) for r in records)]
    prefix = f"{kinds[0]}_0" if kinds else "epoch"
    return f"{prefix}/epoch", [f"{prefix}/{objective}"]


def build_wandb_report(spec: PanelSpec) -> Any:
    """The `wandb_workspaces` report of a `PanelSpec` (built locally; `save()` publishes it).

    Without an entity in the spec (runs logged to the login's default entity),
    wandb_workspaces asks W&B for that default entity.
    """
    try:
        import wandb_workspaces.reports.v2 as wr
    except ImportError as exc:
        raise ImportError(
            "Expected the optional package wandb-workspaces for W&B panels, received an environment "
            "without it. To fix, pip install 'kt-wandb[panels]'."
        ) from exc
    # Runs logged without an entity went to the login's default one, which wandb_workspaces asks W&B for.
    entity: dict[str, Any] = {"entity": spec.entity} if spec.entity else {}
    report = wr.Report(
        project=spec.project,
        title=spec.title,
        description=f"Trials of search {spec.group}, compared on {spec.objective} ({spec.direction}imised).",
        **entity,
    )
    runset = wr.Runset(
        entity=report.entity, project=spec.project, name=spec.group, filters=spec.filters, groupby=[],
        order=[wr.OrderBy(RUN_CREATED, ascending=False)],  # the latest first: those the curves draw
    )
    report.blocks = [wr.PanelGrid(runsets=[runset], panels=_panels(wr, spec))]
    return report


def _panels(wr: Any, spec: PanelSpec) -> list[Any]:
    """The report's panels, as W&B's sweep page has them, then the learning curves where there are any."""
    columns = [
        wr.ParallelCoordinatesPlotColumn(
            metric=wr.Config(c.name) if c.source == "config" else wr.SummaryMetric(c.name),
            log=c.log or None,
            inverted=c.inverted or None,
        )
        for c in spec.columns
    ]
    panels = [
        wr.ScatterPlot(title=spec.scatter_title, x=wr.Metric(RUN_CREATED), y=wr.SummaryMetric(spec.objective)),
        wr.ParallelCoordinatesPlot(columns=columns, title=f"{spec.objective} by hyperparameter"),
        wr.ParameterImportancePlot(with_respect_to=spec.objective),
    ]
    if spec.curve_x is not None:  # None for KerasTuner's MultiObjective: see panel_spec
        panels.append(wr.LinePlot(
            title=spec.curves_title, x=wr.Metric(spec.curve_x), y=[wr.Metric(name) for name in spec.curve_y],
            max_runs_to_show=spec.curve_runs,  # W&B draws 10 runs by default
        ))
    return panels


def publish_panels(
    project_dir: str | os.PathLike[str], *, entity: str | None = None, project: str | None = None
) -> str:
    """Saves the search's comparison report to W&B and returns its URL (needs network and a login).

    One report per search: the first call creates it and records it in the
    project directory (`wandb_report.json`); each later call for the same W&B
    entity and project updates that report in place, so re-running a search
    (or this) doesn't add reports. Its panels, title and description are
    refreshed on each call: edits made by hand to that report in W&B are
    replaced. To keep a version of one's own, clone the report in W&B; the
    clone is left alone. Where the recorded report can't be updated (deleted in
    W&B, say), a new one is created, once, and recorded instead. A call for
    another entity or project creates a report there, which becomes the one
    recorded (the earlier report is left as it is).

    Args:
        project_dir: The search's project directory.
        entity: The W&B entity; by default the one the runs were logged to.
        project: The W&B project; by default the one the runs were logged to.

    Returns:
        The report's URL.

    Raises:
        ValueError: When the search has no W&B runs or no objective recorded.
        ImportError: Without the optional package wandb-workspaces.
    """
    report = build_wandb_report(panel_spec(project_dir, entity=entity, project=project))
    record_path = Path(project_dir) / PANELS_RECORD
    recorded = read_json(record_path)
    if recorded.get("id") and (recorded.get("entity"), recorded.get("project")) == (report.entity, report.project):
        report.id = recorded["id"]  # wandb_workspaces upserts the view with this id: an update, not a new report
    _save_report(report)
    url = str(report.url)
    write_json(record_path, {"id": report.id, "url": url, "entity": report.entity, "project": report.project,
                             "title": report.title})
    return url


# What W&B says of a report that is no longer there to update, or not this login's to edit.
_GONE = re.compile(r"not found|404|403|forbidden|permission|not authorized", re.IGNORECASE)


def _save_report(report: Any) -> None:
    """`report.save()`; where it updates a report that W&B refuses to update, saves a new one instead, once."""
    if not report.id:
        report.save()
        return
    try:
        report.save()
    except Exception as exc:
        if not _GONE.search(str(exc)):  # a timeout or an outage: no second report, the next call updates this one
            raise
        logger.warning(f"could not update the W&B report {report.id} recorded for this search "
                       f"({type(exc).__name__}: {exc}); saving a new one")
        report.id = ""
        report.save()
