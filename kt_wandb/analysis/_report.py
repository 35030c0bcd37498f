"""The offline comparison report: one self-contained HTML file, charts by plotly.

`report_data` computes what the report shows; `write_report` draws it. The
file inlines plotly.js, so it opens with no network.
"""

from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kt_wandb.analysis._importance import parameter_importance
from kt_wandb.analysis._results import learning_curves, load_trials, results_frame, search_space

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


def _label(value: Any) -> str:
    # Plotly reads a few HTML tags in titles, legends and bar labels: escaped, a value shows as the
    # text it is. (Parallel-coordinates axes show their text as it is, so they take it unescaped; plotly
    # escapes '<' in the JSON it embeds either way.)
    return html.escape(str(value), quote=False)


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
    completed = data.frame[np.isfinite(pd.to_numeric(data.frame["score"], errors="coerce"))]
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
            "colorbar": {"title": {"text": _label(data.objective)}},
        },
        "dimensions": dimensions,
    }
    title = f"{len(completed)} completed trials (drag along an axis to filter)"
    return {"data": [trace], "layout": {"title": {"text": title}, "height": 480}}


def _importance_bars(data: ReportData) -> dict[str, Any]:
    importance = data.importance if data.importance is not None else pd.DataFrame(
        columns=["parameter", "importance", "correlation"]
    )
    ordered = importance.iloc[::-1]
    names = [_label(p) for p in ordered["parameter"]]
    colors = ["#2a9d8f" if (c == c and c >= 0) else "#e76f51" for c in ordered["correlation"]]
    traces = [
        {"type": "bar", "orientation": "h", "name": "importance", "x": ordered["importance"].tolist(), "y": names,
         "xaxis": "x", "yaxis": "y"},
        {"type": "bar", "orientation": "h", "name": "correlation", "x": ordered["correlation"].tolist(), "y": names,
         "marker": {"color": colors}, "xaxis": "x2", "yaxis": "y"},
    ]
    layout = {
        "title": {"text": f"What drives {_label(data.objective)} (random forest, as W&B's parameter-importance panel)"},
        "showlegend": False,
        "height": max(260, 28 * len(names) + 120),
        "xaxis": {"domain": [0, 0.45], "title": {"text": "importance"}},
        "xaxis2": {"domain": [0.55, 1], "title": {"text": "correlation"}, "range": [-1, 1]},
        "yaxis": {"automargin": True},
    }
    return {"data": traces, "layout": layout}


def _curve_metric(data: ReportData) -> str | None:
    metrics = set(data.curves["metric"])
    for name in (data.objective, "val_loss", "loss"):
        if name in metrics:
            return name
    return next(iter(sorted(metrics)), None)


def _learning_curves(data: ReportData) -> dict[str, Any]:
    metric = _curve_metric(data)
    traces = []
    pruned = set(data.frame.loc[data.frame["status"] == "PRUNED", "trial_id"])
    if metric is not None:
        chosen = data.curves[data.curves["metric"] == metric]
        for (trial_id, execution), curve in chosen.groupby(["trial_id", "execution"], sort=True):
            name = f"trial {trial_id}" + (f" #{execution}" if execution else "") + (" (pruned)" * (trial_id in pruned))
            trace = {"type": "scattergl", "mode": "lines", "opacity": 0.7, "name": _label(name),
                     "x": curve["epoch"].tolist(), "y": curve["value"].tolist()}
            if trial_id in pruned:  # stopped by the pruner: dashed, thinner
                trace["line"] = {"dash": "dash", "width": 1}
            traces.append(trace)
    layout = {
        "title": {"text": f"Learning curves: {_label(metric or 'no epochs recorded')}"},
        "xaxis": {"title": {"text": "epoch"}},
        "yaxis": {"title": {"text": _label(metric or "")}},
        "height": 420,
        "showlegend": len(traces) <= 30,
    }
    return {"data": traces, "layout": layout}


def _cell(value: Any) -> str:
    if _missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value), quote=False)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _sort_key(value: Any) -> str:
    """What the table sorts a cell by: the full value, empty where there is none."""
    return "" if _missing(value) else html.escape(str(value), quote=True)


def _run_link(row: dict[str, Any]) -> str:
    run_id = row.get("wandb_run_id")
    if not isinstance(run_id, str):
        return ""
    url = row.get("wandb_url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return f'<a href="{html.escape(url)}" target="_blank" rel="noopener">{html.escape(run_id)}</a>'
    where = row.get("wandb_run_dir")
    title = f' title="{html.escape(where)}"' if isinstance(where, str) else ""
    return f"<span{title}>{html.escape(run_id)}</span>"


def _table(data: ReportData) -> str:
    frame = data.frame
    shown = [
        c for c in frame.columns
        if c in ("trial_id", "status", "pruned_at_epoch", "score", "best_step", "duration_s", "error")
        or c.startswith(("param_", "metric_", "execution_"))
    ]
    head = "".join(f"<th>{html.escape(c.removeprefix('param_'))}</th>" for c in shown) + "<th>W&amp;B run</th>"
    rows = []
    for row in frame.to_dict("records"):
        cells = "".join(f'<td data-value="{_sort_key(row[c])}">{_cell(row[c])}</td>' for c in shown)
        rows.append(f"<tr>{cells}<td>{_run_link(row)}</td></tr>")
    return f'<table id="trials"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


_SORT_SCRIPT = """
document.querySelectorAll('#trials th').forEach(function (th, column) {
  th.addEventListener('click', function () {
    var body = document.querySelector('#trials tbody');
    var rows = Array.from(body.rows);
    var ascending = th.dataset.order !== 'asc';
    th.dataset.order = ascending ? 'asc' : 'desc';
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
      if ((x === '') !== (y === '')) { return x === '' ? 1 : -1; }  // missing values last, both ways
      var nx = parseFloat(x), ny = parseFloat(y);
      var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th { cursor: pointer; background: #f4f4f4; position: sticky; top: 0; }
th:hover { background: #e8e8e8; }
.summary { color: #555; }
"""


def write_report(
    project_dir: str | os.PathLike[str],
    path: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
) -> Path:
    """Writes the search's comparison report as one self-contained HTML file.

    It holds a parallel-coordinates chart (one line per completed trial, an
    axis per hyperparameter and the objective, log axes for log-sampled
    hyperparameters, coloured by the objective, brushable), the importance and
    correlation bars, the learning curves and a sortable table of every trial
    with a link to its W&B run. It needs no network to open.

    Args:
        project_dir: The search's project directory (`directory/project_name`).
        path: Where to write; by default `report.html` in `project_dir`.
        seed: The importance forest's seed.

    Returns:
        The path written.
    """
    data = report_data(project_dir, seed=seed)
    target = Path(path) if path is not None else Path(project_dir) / "report.html"
    figures = [
        ("parcoords", _parallel_coordinates(data)),
        ("importance", _importance_bars(data)),
        ("curves", _learning_curves(data)),
    ]
    import plotly.io

    # Plain figure dicts, not validated trace by trace: a 1,000-trial report stays fast.
    parts = [
        plotly.io.to_html(
            figure, full_html=False, include_plotlyjs=(index == 0), div_id=name,
            config={"responsive": True}, validate=False,
        )
        for index, (name, figure) in enumerate(figures)
    ]
    frame = data.frame
    completed = int((frame["status"] == "COMPLETED").sum())
    pruned = int((frame["status"] == "PRUNED").sum())
    counts = f"{len(frame)} trials, {completed} completed" + (f", {pruned} pruned" if pruned else "")
    scores = pd.to_numeric(frame["score"], errors="coerce")
    best = None
    if scores.notna().any():
        best = frame.loc[scores.idxmax() if data.direction == "max" else scores.idxmin()]
    best_text = (
        f"best: trial {html.escape(str(best['trial_id']))}, {html.escape(data.objective)} = {best['score']:.6g}"
        if best is not None else "no trial completed"
    )
    facts = json.dumps({k: str(v) for k, v in frame.attrs.items()})
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(data.title)}: kt-wandb report</title>
<style>{_STYLE}</style></head>
<body>
<h1>{html.escape(data.title)}</h1>
<p class="summary">{counts}; objective {html.escape(data.objective)}
({"maximised" if data.direction == "max" else "minimised"}); {best_text}.</p>
{parts[0]}
{parts[1]}
{parts[2]}
<h2>Trials</h2>
<p class="summary">Click a column to sort.</p>
{_table(data)}
<script type="application/json" id="search-facts">{html.escape(facts)}</script>
<script>{_SORT_SCRIPT}</script>
</body></html>
"""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(document, encoding="utf-8")
    return target
