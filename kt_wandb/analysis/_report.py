"""The offline comparison report: one self-contained HTML file, charts by plotly.

`report_data` computes what the report shows; `write_report` draws it. The
file inlines plotly.js, so it opens with no network.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kt_wandb._direction import Direction
from kt_wandb._heap import paused_collector
from kt_wandb._records import write_text
from kt_wandb.analysis._charts import CHARTS_SCRIPT, charts_html, plotly_script
from kt_wandb.analysis._history import (
    AXIS_SWITCH,
    AXIS_SWITCH_SCRIPT,
    history_figure,
    label,
    optimization_history,
    searches_figure,
)
from kt_wandb.analysis._importance import parameter_importance
from kt_wandb.analysis._live import live_script, new_stamp, stamp_path, write_stamp
from kt_wandb.analysis._overview import best_row, number_text, overview_html
from kt_wandb.analysis._results import learning_curves, load_trials, results_frame, search_space, trim_read_cache
from kt_wandb.analysis._slices import slices, slices_figure
from kt_wandb.analysis._table import TABLE_SCRIPT, curve_sample, script_json, table_html, table_payload

__all__ = ["ReportData", "report_data", "write_report"]

ABSENT = "(absent)"


@dataclass
class ReportData:
    """What the report shows, computed from the search's records."""

    title: str
    frame: pd.DataFrame
    curves: pd.DataFrame
    importance: pd.DataFrame | None
    space: dict[str, dict[str, Any]]
    objective: str
    direction: str


def report_data(project_dir: str | os.PathLike[str], *, seed: int = 0) -> ReportData:
    """Reads a search's records and computes the table, curves and importance of its report."""
    trials = load_trials(project_dir)
    frame = results_frame(project_dir, trials=trials)
    objective = frame.attrs.get("objective", "score")
    direction = frame.attrs.get("direction", "max")
    completed = frame[np.isfinite(pd.to_numeric(frame["score"], errors="coerce"))]
    importance = parameter_importance(completed, seed=seed) if len(completed) >= 2 else None
    return ReportData(
        title=Path(project_dir).resolve().name,
        frame=frame,
        curves=learning_curves(project_dir, trials=trials),
        importance=importance,
        space=search_space(trials),
        objective=objective,
        direction=direction,
    )


def _dimension(name: str, values: pd.Series, config: dict[str, Any]) -> dict[str, Any]:
    """One parallel-coordinates axis: log-scaled, categorical or linear, with absent values marked."""
    numeric = pd.to_numeric(values.map(lambda v: float(v) if isinstance(v, bool) else v), errors="coerce")
    categorical = config.get("class") in ("Choice", "Boolean") or numeric.notna().sum() < values.notna().sum()
    if categorical and not (config.get("class") == "Choice" and numeric.notna().all()):
        labels = sorted(values.dropna().astype(str).unique())
        codes = values.map(lambda v: labels.index(str(v)) if v == v and v is not None else len(labels))
        if values.isna().any():
            labels.append(ABSENT)
        return {
            "label": name,
            "values": codes.astype(float).tolist(),
            "tickvals": list(range(len(labels))),
            "ticktext": labels,
        }
    log = config.get("sampling") == "log" and bool((numeric.dropna() > 0).all())
    shown = np.log10(numeric) if log else numeric
    low, high = float(shown.min()), float(shown.max())
    span = high - low or 1.0
    dimension: dict[str, Any] = {"label": name + (" (log)" if log else "")}
    ticks = list(np.linspace(low, high, 5)) if high > low else [low]
    if log:
        dimension["tickvals"] = ticks
        dimension["ticktext"] = [f"{10**t:.3g}" for t in ticks]
    if shown.isna().any():
        sentinel = low - 0.15 * span
        shown = shown.fillna(sentinel)
        dimension["tickvals"] = [sentinel, *dimension.get("tickvals", ticks)]
        dimension["ticktext"] = [ABSENT, *dimension.get("ticktext", [f"{t:.3g}" for t in ticks])]
    dimension["values"] = shown.astype(float).tolist()
    return dimension


def _parallel_coordinates(data: ReportData) -> dict[str, Any]:
    """One line a trial with a score; above 500 of them, the best 250 and a random 250 (drawing takes about
    1.4 ms a line in software WebGL: 10,000 lines take 7 s)."""
    completed = data.frame[np.isfinite(pd.to_numeric(data.frame["score"], errors="coerce"))]
    drawn, note = curve_sample(completed["trial_id"], completed.set_index("trial_id")["score"], data.direction,
                               shown=500, best_count=250)
    if note:
        completed = completed[completed["trial_id"].isin(drawn)]
    params = [c for c in completed.columns if c.startswith("param_")]
    dimensions = [_dimension(c[len("param_") :], completed[c], data.space.get(c[len("param_") :], {})) for c in params]
    scores = completed["score"].astype(float)
    objective_axis: dict[str, Any] = {"label": data.objective, "values": scores.tolist()}
    if data.direction == "min":  # the better trials at the top, as for a maximised objective
        objective_axis["range"] = [float(scores.max()), float(scores.min())]
    dimensions.append(objective_axis)
    trace = {
        "type": "parcoords",
        "line": {
            "color": scores.tolist(),
            "colorscale": "Viridis",
            "reversescale": data.direction == "min",
            "showscale": True,
            "colorbar": {"title": {"text": label(data.objective)}},
        },
        "dimensions": dimensions,
    }
    title = f"{note or f'{len(completed)} trials with a score'} (drag along an axis to filter)"
    return {"data": [trace], "layout": {"title": {"text": title}, "height": 480}}


def _importance_bars(data: ReportData) -> dict[str, Any]:
    importance = data.importance if data.importance is not None else pd.DataFrame(
        columns=["parameter", "importance", "correlation"]
    )
    ordered = importance.iloc[::-1]
    names = [label(p) for p in ordered["parameter"]]
    colors = ["#2a9d8f" if (c == c and c >= 0) else "#e76f51" for c in ordered["correlation"]]
    traces = [
        {"type": "bar", "orientation": "h", "name": "importance", "x": ordered["importance"].tolist(), "y": names,
         "xaxis": "x", "yaxis": "y"},
        {"type": "bar", "orientation": "h", "name": "correlation", "x": ordered["correlation"].tolist(), "y": names,
         "marker": {"color": colors}, "xaxis": "x2", "yaxis": "y"},
    ]
    layout = {
        "title": {"text": f"What drives {label(data.objective)} (random forest, as W&B's parameter-importance panel)"},
        "showlegend": False,
        "height": max(260, 28 * len(names) + 120),
        "xaxis": {"domain": [0, 0.45], "title": {"text": "importance"}},
        "xaxis2": {"domain": [0.55, 1], "title": {"text": "correlation"}, "range": [-1, 1]},
        "yaxis": {"automargin": True},
    }
    return {"data": traces, "layout": layout}


def _curve_metric(data: ReportData) -> str | None:
    metrics = set(data.curves["metric"].unique())
    for name in (data.objective, "val_loss", "loss"):
        if name in metrics:
            return name
    return next(iter(sorted(metrics)), None)


def _learning_curves(data: ReportData) -> dict[str, Any]:
    """One line per trial (and execution), or per trial of a sample above `_table.CURVES_SHOWN` trials."""
    metric = _curve_metric(data)
    traces = []
    note = ""
    pruned = set(data.frame.loc[data.frame["status"] == "PRUNED", "trial_id"])
    if metric is not None:
        chosen = data.curves[data.curves["metric"] == metric]
        scores = data.frame.drop_duplicates("trial_id").set_index("trial_id")["score"]
        drawn, note = curve_sample(chosen["trial_id"].unique(), scores, data.direction)
        joins = _parent_ends(data, chosen)
        if note:
            chosen = chosen[chosen["trial_id"].isin(drawn)]
        for (trial_id, execution), curve in chosen.groupby(["trial_id", "execution"], sort=True):
            name = f"trial {trial_id}" + (f" #{execution}" if execution else "") + (" (pruned)" * (trial_id in pruned))
            start = [joins[trial_id]] if trial_id in joins and not execution else []  # Hyperband: from its parent
            # SVG, not WebGL: at most 100 trials' lines, and no WebGL context to start (0.7 s in software WebGL)
            trace = {"type": "scatter", "mode": "lines", "opacity": 0.7, "name": label(name),
                     "x": [p[0] for p in start] + curve["epoch"].tolist(),
                     "y": [p[1] for p in start] + curve["value"].tolist()}
            if trial_id in pruned:  # stopped by the pruner: dashed, thinner
                trace["line"] = {"dash": "dash", "width": 1}
            traces.append(trace)
    title = f"Learning curves: {label(metric or 'no epochs recorded')}" + (f" \u2014 {note}" if note else "")
    layout = {
        "title": {"text": title},
        "xaxis": {"title": {"text": "epoch"}},
        "yaxis": {"title": {"text": label(metric or "")}},
        "height": 420,
        "showlegend": len(traces) <= 30,
    }
    return {"data": traces, "layout": layout}


def _parent_ends(data: ReportData, chosen: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """For each Hyperband trial continued from another, the parent's last (epoch, value): where its curve joins."""
    if "continued_from" not in data.frame:
        return {}
    parents = data.frame.dropna(subset=["continued_from"]).set_index("trial_id")["continued_from"].astype(str)
    first = chosen[chosen["execution"] == 0].sort_values("epoch")
    ends = first.groupby("trial_id").tail(1).set_index("trial_id")
    return {child: (float(ends.at[parent, "epoch"]), float(ends.at[parent, "value"]))
            for child, parent in parents.items() if parent in ends.index}


def _table(data: ReportData) -> str:
    """The trials table: its rows as one JSON payload, which `_SORT_SCRIPT` renders a page at a time."""
    return table_html(table_payload(data.frame))


_SORT_SCRIPT = TABLE_SCRIPT


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th { cursor: pointer; background: #f4f4f4; position: sticky; top: 0; }
th:hover { background: #e8e8e8; }
.summary { color: #555; }
.statuses { list-style: none; padding: 0; display: flex; gap: 18px; font-size: 15px; }
.status-completed b { color: #264653; } .status-pruned b { color: #b08900; }
.status-failed b, .status-invalid b { color: #c0392b; } .status-running b { color: #2a9d8f; }
.best-params { columns: 3; font-size: 13px; color: #333; }
.errors { margin: 8px 0 16px; font-size: 13px; }
.axis-switch { font-size: 13px; color: #555; margin-top: 12px; }
.kt-chart-waiting { color: #888; font-size: 13px; text-align: center; padding-top: 40px; }
#searches td, #searches th { text-align: left; }
"""


@paused_collector()  # no pass over the whole heap in mid-call: kt_wandb._heap
def write_report(
    project_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    path: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    live: bool = False,
) -> Path:
    """Writes the comparison report of one search, or of several, as one self-contained HTML file.

    One search: the trials by status (the failed ones' errors, the best trial
    and its run), the optimisation history (each trial's objective in the order
    trials ended and the best so far, by trial or by time), the importance
    and correlation bars, a parallel-coordinates chart (an axis per
    hyperparameter and the objective, log axes for log-sampled
    hyperparameters, brushable), a slice plot per hyperparameter, the learning
    curves (a Hyperband trial's joined to its parent's) and a table of every
    trial (sortable, paged, filtered by text, status and Hyperband bracket and
    round) with its W&B run. Several: each search's best so far against time on
    one chart, and all their trials in one table with a `search` column. It
    needs no network to open; a chart is drawn when it comes onto the screen.

    Args:
        project_dir: The search's project directory (`directory/project_name`),
            or a list of them.
        path: Where to write; by default `report.html` in the project directory
            (several: `comparison.html` beside the first).
        seed: The importance forest's seed.
        live: Make the open page reload itself when a newer report is written
            (a search in progress writes it so). Written without, a report
            that was live makes its open pages reload once more, into it.

    Returns:
        The path written.
    """
    try:
        return _write_report(project_dir, path, seed=seed, live=live)
    finally:
        if not live:  # a live report reads the same files again after the next trial: they stay cached
            trim_read_cache()


def _write_report(
    project_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    path: str | os.PathLike[str] | None,
    *,
    seed: int,
    live: bool,
) -> Path:
    dirs = [project_dir] if isinstance(project_dir, (str, os.PathLike)) else list(project_dir)
    if not dirs:
        raise ValueError("Expected at least one project directory, received none. To fix, pass a search's "
                         "project directory (directory/project_name).")
    if len(dirs) == 1:
        target = Path(path) if path is not None else Path(dirs[0]) / "report.html"
        title, body = _search_body(report_data(dirs[0], seed=seed))
    else:
        target = Path(path) if path is not None else Path(dirs[0]).parent / "comparison.html"
        title, body = _comparison_body(dirs)
    stamp = new_stamp()
    script = f"<script>{live_script(target, stamp)}</script>" if live else ""
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}: kt-wandb report</title>
<style>{_STYLE}</style></head>
<body>
{body}
<script>{_SORT_SCRIPT}</script>
{script}
{plotly_script()}
<script>{CHARTS_SCRIPT}</script>
<script>{AXIS_SWITCH_SCRIPT}</script>
</body></html>
"""
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(target, document)  # whole: an open page that reloads never reads half a report
    if live or stamp_path(target).exists():
        write_stamp(target, stamp)
    return target


def _search_body(data: ReportData) -> tuple[str, str]:
    """One search's report: its title, and its page's body."""
    frame = data.frame
    history = optimization_history(frame, data.direction)
    charts = charts_html([
        ("history", history_figure(history, data.objective, data.direction)),
        ("importance", _importance_bars(data)),
        ("parcoords", _parallel_coordinates(data)),
        ("slices", slices_figure(slices(frame, data.space), data.objective, data.direction)),
        ("curves", _learning_curves(data)),
    ])
    body = f"""<h1>{html.escape(data.title)}</h1>
<p class="summary">{len(frame)} trials; objective {html.escape(data.objective)} ({Direction(data.direction).verb}).</p>
{overview_html(frame, data.objective, data.direction)}
{AXIS_SWITCH}
{charts}
<h2>Trials</h2>
<p class="summary">Click a column to sort.</p>
{_table(data)}
<script type="application/json" id="search-facts">{script_json({k: str(v) for k, v in frame.attrs.items()})}</script>"""
    return data.title, body


def _comparison_body(dirs: list[str | os.PathLike[str]]) -> tuple[str, str]:
    """Several searches' report: their best so far against time, and every trial in one table."""
    frames = _search_frames(dirs)
    objectives = {(f.attrs.get("objective", "score"), f.attrs.get("direction", "max")) for f in frames.values()}
    if len(objectives) > 1:
        raise ValueError(
            f"Expected searches of one objective to compare, received {sorted(objectives)} (objective, "
            f"direction). To fix, compare the searches that optimise the same objective."
        )
    ((objective, direction),) = objectives
    histories = {name: optimization_history(frame, direction) for name, frame in frames.items()}
    rows = []
    for name, frame in frames.items():
        best = best_row(frame, direction)
        best_text = "none" if best is None else (
            f"{number_text(float(best['score']))} (trial {html.escape(str(best['trial_id']))})")
        oracle = html.escape(str(frame.attrs.get("oracle", "")))
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{oracle}</td><td>{len(frame)}</td><td>{best_text}</td></tr>")
    combined = pd.concat([f.assign(search=name) for name, f in frames.items()], ignore_index=True)
    title = f"{len(frames)} searches"
    body = f"""<h1>{html.escape(title)}: {html.escape(objective)}</h1>
<table id="searches"><thead><tr><th>search</th><th>oracle</th><th>trials</th><th>best</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{charts_html([("searches-history", searches_figure(histories, objective, direction))])}
<h2>Trials</h2>
<p class="summary">Click a column to sort.</p>
{table_html(table_payload(combined))}"""
    return title, body


def _search_frames(dirs: list[str | os.PathLike[str]]) -> dict[str, pd.DataFrame]:
    """Each search's results table by a name: its folder's, or its path where two folders share a name."""
    names = [Path(d).resolve().name for d in dirs]
    if len(set(names)) < len(names):
        names = [str(Path(d)) for d in dirs]
    return {name: results_frame(d) for name, d in zip(names, dirs, strict=True)}
