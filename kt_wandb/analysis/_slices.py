"""Slice plots: the objective against each hyperparameter, one small chart a hyperparameter.

`slices` computes them from the results table and the search space; `slices_figure`
draws them in a grid, as optuna-dashboard's slice plot does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kt_wandb._direction import Direction
from kt_wandb.analysis._history import compact, label

__all__ = ["Slice", "slices", "slices_figure"]

_COLUMNS = 3


@dataclass(frozen=True)
class Slice:
    """One hyperparameter's chart: its value and the objective of each trial that has it."""

    name: str
    kind: str  # "log", "linear" or "category"
    values: list[Any]
    scores: list[float]
    trial_ids: list[str]
    categories: list[str] | None = None  # the category order, for `Choice` and `Boolean`


def slices(frame: pd.DataFrame, space: dict[str, dict[str, Any]]) -> list[Slice]:
    """One `Slice` per hyperparameter, over the trials with a finite score that have it.

    Log axes where the hyperparameter is log-sampled; categories for `Choice` and
    `Boolean` (in the order the space lists them); a conditional hyperparameter
    only over the trials where it is active.
    """
    scored = frame[np.isfinite(pd.to_numeric(frame["score"], errors="coerce"))]
    result = []
    for column in [c for c in frame.columns if c.startswith("param_")]:
        name = column[len("param_"):]
        config = space.get(name, {})
        present = scored[scored[column].notna()]
        categorical = config.get("class") in ("Choice", "Boolean")
        if categorical:
            listed = [str(v) for v in config.get("values", [])] or (["False", "True"] if config["class"] == "Boolean"
                                                                     else [])
            values: list[Any] = [label(_category(v, listed)) for v in present[column]]
            listed = [label(v) for v in listed]
            categories = listed + sorted(set(values) - set(listed))
            kind = "category"
        else:
            values, categories = present[column].astype(float).tolist(), None
            log = config.get("sampling") == "log" and all(v > 0 for v in values)
            kind = "log" if log else "linear"
        result.append(Slice(
            name=name, kind=kind, values=values, scores=present["score"].astype(float).tolist(),
            trial_ids=present["trial_id"].astype(str).tolist(), categories=categories,
        ))
    return result


def _category(value: Any, listed: list[str]) -> str:
    """A category's text as the space lists it (an integer choice in a column with gaps reads back as 16.0)."""
    if isinstance(value, float) and value.is_integer() and str(int(value)) in listed:
        return str(int(value))
    return str(value)


def slices_figure(charts: list[Slice], objective: str, direction: str) -> dict[str, Any]:
    """The slices in a grid of small charts, three a row."""
    rows = max(1, math.ceil(len(charts) / _COLUMNS))
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {}
    for index, chart in enumerate(charts):
        suffix = "" if index == 0 else str(index + 1)
        row, column = divmod(index, _COLUMNS)
        layout[f"xaxis{suffix}"] = _x_axis(chart, column, index)
        layout[f"yaxis{suffix}"] = {
            "domain": _span(rows - 1 - row, rows, gap=0.12), "anchor": f"x{suffix}",
            "title": {"text": label(objective)} if column == 0 else {},
        }
        traces.append({
            # WebGL past 1,000 points a chart: SVG takes seconds to draw 10,000 (one WebGL context a figure)
            "type": "scattergl" if sum(len(c.values) for c in charts) > 1000 else "scatter", "mode": "markers",
            "name": label(chart.name),
            "x": compact(chart.values), "y": compact(chart.scores), "xaxis": f"x{suffix}", "yaxis": f"y{suffix}",
            "marker": {"color": "#264653", "size": 6, "opacity": 0.6},
            "text": [label(t) for t in chart.trial_ids],
            "hovertemplate": "trial %{text}<br>%{x}: %{y}<extra></extra>",
        })
    layout.update({
        "title": {"text": f"{label(objective)} by hyperparameter ({Direction(direction).text})"},
        "showlegend": False, "height": 60 + 260 * rows,
    })
    return {"data": traces, "layout": layout}


def _span(index: int, count: int, *, gap: float) -> list[float]:
    width = 1 / count
    return [index * width + gap * width / 2, (index + 1) * width - gap * width / 2]


def _x_axis(chart: Slice, column: int, index: int) -> dict[str, Any]:
    axis: dict[str, Any] = {
        "domain": _span(column, _COLUMNS, gap=0.15), "anchor": "y" if index == 0 else f"y{index + 1}",
        "title": {"text": label(chart.name + (" (log)" if chart.kind == "log" else ""))},
    }
    if chart.kind == "log":
        axis["type"] = "log"
    elif chart.kind == "category":
        axis.update({"type": "category", "categoryorder": "array", "categoryarray": chart.categories})
    return axis
