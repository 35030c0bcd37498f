"""W&B comparison panels built in code: a report with parallel coordinates and parameter importance.

`panel_spec` computes, from the search's records and with no network, what the
W&B report holds; `build_wandb_report` turns it into a `wandb_workspaces` report
(the optional extra `kt-wandb[panels]`); `publish_panels` saves it to W&B, one report
per search, updated in place on later calls.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kt_wandb._log import logger
from kt_wandb._records import IDENTITY_FILE, PANELS_RECORD, config_key, read_json, write_json
from kt_wandb.analysis._results import load_trials, search_space

__all__ = ["PanelColumn", "PanelSpec", "build_wandb_report", "panel_spec", "publish_panels"]


@dataclass(frozen=True)
class PanelColumn:
    """One parallel-coordinates axis: a config key (hyperparameter) or a summary key (objective)."""

    source: str  # "config" or "summary"
    name: str
    log: bool = False
    inverted: bool = False


@dataclass(frozen=True)
class PanelSpec:
    """What the W&B report of one search holds."""

    entity: str | None
    project: str
    group: str
    objective: str
    direction: str
    columns: list[PanelColumn] = field(default_factory=list)

    @property
    def filters(self) -> str:
        """The runset's filter: exactly this search's runs."""
        return f"Metric('Group') == {self.group!r}"

    @property
    def title(self) -> str:
        return f"kt-wandb search {self.group}: {self.objective}"


def panel_spec(
    project_dir: str | os.PathLike[str], *, entity: str | None = None, project: str | None = None
) -> PanelSpec:
    """The W&B report of a search, from its records (no network).

    The parallel-coordinates panel has an axis per hyperparameter (log-scaled
    where the hyperparameter is log-sampled) and the objective from the run
    summary (inverted when minimised, so better is up). The parameter-importance
    panel is with respect to the objective. The runset holds this search's runs
    by their group, *ungrouped*: W&B's importance panel shows nothing for
    grouped runs.

    Args:
        project_dir: The search's project directory.
        entity: The W&B entity; by default the one the runs were logged to.
        project: The W&B project; by default the one the runs were logged to.

    Raises:
        ValueError: When the search has no W&B runs or no objective recorded.
    """
    trials = load_trials(project_dir)
    records = [t["wandb"] for t in trials if t["wandb"].get("mode") in ("online", "offline")]
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
    return PanelSpec(
        entity=entity or records[-1].get("entity"),
        project=project or records[-1].get("project") or "uncategorized",
        group=records[-1]["group"],
        objective=facts["objective"],
        direction=facts.get("direction", "max"),
        columns=columns,
    )


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
    columns = [
        wr.ParallelCoordinatesPlotColumn(
            metric=wr.Config(c.name) if c.source == "config" else wr.SummaryMetric(c.name),
            log=c.log or None,
            inverted=c.inverted or None,
        )
        for c in spec.columns
    ]
    # Runs logged without an entity went to the login's default one, which wandb_workspaces asks W&B for.
    entity: dict[str, Any] = {"entity": spec.entity} if spec.entity else {}
    report = wr.Report(
        project=spec.project,
        title=spec.title,
        description=f"Trials of search {spec.group}, compared on {spec.objective} ({spec.direction}imised).",
        **entity,
    )
    runset = wr.Runset(
        entity=report.entity, project=spec.project, name=spec.group, filters=spec.filters, groupby=[]
    )
    report.blocks = [
        wr.PanelGrid(
            runsets=[runset],
            panels=[
                wr.ParallelCoordinatesPlot(columns=columns, title=f"{spec.objective} by hyperparameter"),
                wr.ParameterImportancePlot(with_respect_to=spec.objective),
            ],
        )
    ]
    return report


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


def _save_report(report: Any) -> None:
    """`report.save()`; where it updates a report that W&B refuses to update, saves a new one instead, once."""
    if not report.id:
        report.save()
        return
    try:
        report.save()
    except Exception as exc:  # deleted in W&B, or not this login's to edit: W&B's reasons vary, a new one serves
        logger.warning(f"could not update the W&B report {report.id} recorded for this search "
                       f"({type(exc).__name__}: {exc}); saving a new one")
        report.id = ""
        report.save()
