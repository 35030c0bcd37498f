"""W&B comparison panels built in code: a report with parallel coordinates and parameter importance.

`panel_spec` computes, from the search's records and with no network, what the
W&B report holds; `build_wandb_report` turns it into a `wandb_workspaces` report
(the optional extra `kt-wandb[panels]`); `publish_panels` saves it to W&B.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kt_wandb._records import IDENTITY_FILE, config_key, read_json
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
    """The `wandb_workspaces` report of a `PanelSpec` (built locally; `save()` publishes it)."""
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
    runset = wr.Runset(
        entity=spec.entity or "", project=spec.project, name=spec.group, filters=spec.filters, groupby=[]
    )
    return wr.Report(
        entity=spec.entity or "",
        project=spec.project,
        title=spec.title,
        description=f"Trials of search {spec.group}, compared on {spec.objective} ({spec.direction}imised).",
        blocks=[
            wr.PanelGrid(
                runsets=[runset],
                panels=[
                    wr.ParallelCoordinatesPlot(columns=columns, title=f"{spec.objective} by hyperparameter"),
                    wr.ParameterImportancePlot(with_respect_to=spec.objective),
                ],
            )
        ],
    )


def publish_panels(
    project_dir: str | os.PathLike[str], *, entity: str | None = None, project: str | None = None
) -> str:
    """Saves the search's comparison report to W&B and returns its URL (needs network and a login)."""
    report = build_wandb_report(panel_spec(project_dir, entity=entity, project=project))
    report.save()
    return str(report.url)
