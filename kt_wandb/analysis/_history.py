"""Optimisation history: each trial's objective in the order trials ended, and the best so far.

`optimization_history` computes it from the results table; `history_figure` draws
it (against trial number, or against wall-clock time), and `searches_figure` draws
the best so far of several searches on one chart.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from kt_wandb._direction import Direction
from kt_wandb._records import ENDED

__all__ = [
    "AXIS_SWITCH", "AXIS_SWITCH_SCRIPT", "compact", "history_figure", "label", "optimization_history",
    "searches_figure",
]



def optimization_history(frame: pd.DataFrame, direction: str) -> pd.DataFrame:
    """The trials that ended, in the order they ended, with the best objective so far.

    Args:
        frame: The search's results table (`results_frame`).
        direction: "min" or "max", the objective's direction.

    Returns:
        One row per ended trial: `number` (1, 2, ... in the order trials ended),
        `trial_id`, `status`, `score` (NaN where the trial has none: failed),
        `ended_s` (seconds from the search's first trial's start to the trial's
        end; NaN where its run wasn't recorded), and `best_so_far` (the best
        score of the trials ended so far, NaN until one has a score; monotone
        in the objective's direction).
    """
    ended = frame[frame["status"].isin(ENDED)].copy()
    started = pd.to_datetime(frame.get("started"), utc=True, errors="coerce", format="ISO8601")
    origin = started.min() if started is not None and started.notna().any() else None
    if origin is not None:
        end_times = started[ended.index] + pd.to_timedelta(ended["duration_s"].astype(float), unit="s")
        ended["ended_s"] = (end_times - origin).dt.total_seconds()
        ended = ended.sort_values("ended_s", kind="stable", na_position="last")
    else:
        ended["ended_s"] = np.nan
    scores = pd.to_numeric(ended["score"], errors="coerce")
    scores = scores.where(np.isfinite(scores))
    best = Direction(direction).best_so_far(scores)
    return pd.DataFrame(
        {
            "number": np.arange(1, len(ended) + 1),
            "trial_id": ended["trial_id"].to_numpy(),
            "status": ended["status"].to_numpy(),
            "score": scores.to_numpy(dtype=float),
            "ended_s": ended["ended_s"].to_numpy(dtype=float),
            "best_so_far": best.ffill().to_numpy(dtype=float),
        }
    )


def compact(values: Any) -> list[Any]:
    """Numbers to 6 significant digits, NaN as None: a chart shows no more, and 10,000 trials take half the bytes."""
    return [None if isinstance(v, float) and v != v else float(f"{v:.6g}") if isinstance(v, float) else v
            for v in values]


def label(value: Any) -> str:
    """A value as plotly shows it in titles, legends, ticks and hovers: escaped, so it reads as the text it is.

    (Plotly reads a few HTML tags there. Parallel-coordinates axes show their text as it is, so they take it
    unescaped; plotly escapes '<' in the JSON it embeds either way.)
    """
    return html.escape(str(value), quote=False)


def history_figure(history: pd.DataFrame, objective: str, direction: str) -> dict[str, Any]:
    """Each trial's objective (by status) and the best so far as a step line, against trial number; each
    trace's `customdata` holds the same points' seconds, for `AXIS_SWITCH`."""
    traces: list[dict[str, Any]] = []
    styles = {"COMPLETED": ("circle", "#264653"), "PRUNED": ("circle-open", "#e9c46a")}
    for status, (symbol, color) in styles.items():
        part = history[(history["status"] == status) & history["score"].notna()]
        traces.append(_points(part, status.lower(), symbol, color, webgl=len(history) > 1000))
    failed = history[history["score"].isna()]
    if len(failed):  # no score to place them by: marked along the bottom, as failed, not as zeros
        traces.append(_points(failed, "failed (no score)", "x", "#e76f51", on_axis=True))
    traces.append({"type": "scatter", "mode": "lines", "line": {"shape": "hv", "color": "#2a9d8f"},
                   "name": "best so far", "x": history["number"].tolist(), "y": compact(history["best_so_far"]),
                   "customdata": compact(history["ended_s"])})
    layout = {
        "title": {"text": f"Optimisation history: {label(objective)} ({Direction(direction).text}), in the order "
                          f"trials ended"},
        "xaxis": {"title": {"text": "trial number"}, "tickformat": "d"},
        "yaxis": {"title": {"text": label(objective)}},
        "yaxis2": {"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True},
        "height": 420,
    }
    return {"data": traces, "layout": layout}


def _points(
    part: pd.DataFrame, name: str, symbol: str, color: str, *, on_axis: bool = False, webgl: bool = False
) -> dict[str, Any]:
    """A status's trials as markers (WebGL past 1,000 trials: SVG takes seconds to draw 10,000)."""
    return {
        "type": "scattergl" if webgl else "scatter", "mode": "markers", "name": name,
        "marker": {"symbol": symbol, "color": color, "size": 7},
        "x": part["number"].tolist(), "customdata": compact(part["ended_s"]),
        "y": [0.03] * len(part) if on_axis else compact(part["score"]),
        "yaxis": "y2" if on_axis else "y",
        "text": [label(t) for t in part["trial_id"]],
        "hovertemplate": "trial %{text}" + ("" if on_axis else "<br>%{y}") + "<extra>" + label(name) + "</extra>",
    }


# Buttons above the history chart that redraw every trace against trial number (its `x`) or seconds (its
# `customdata`), from the data the chart already holds.
AXIS_SWITCH = """<div class="axis-switch" id="history-axis">x axis:
<button type="button" data-axis="number">trial number</button>
<button type="button" data-axis="time">wall-clock time</button></div>"""
AXIS_SWITCH_SCRIPT = """
(function () {
  var chart = document.getElementById('history');
  if (!chart || !window.Plotly) { return; }
  document.querySelectorAll('#history-axis button').forEach(function (button) {
    button.addEventListener('click', function () {
      if (!chart.data) { return; }  // not drawn yet (scrolled past)
      chart._ktNumbers = chart._ktNumbers || chart.data.map(function (t) { return t.x; });
      var time = button.dataset.axis === 'time';
      window.Plotly.update(chart,
        {x: chart.data.map(function (t, i) { return time ? t.customdata : chart._ktNumbers[i]; })},
        {'xaxis.title.text': time ? 'seconds since the first trial started' : 'trial number',
         'xaxis.tickformat': time ? '' : 'd'});
    });
  });
})();
"""


def searches_figure(histories: dict[str, pd.DataFrame], objective: str, direction: str) -> dict[str, Any]:
    """The best so far of each search against wall-clock time, one line a search."""
    traces = [
        {"type": "scatter", "mode": "lines", "line": {"shape": "hv"}, "name": label(name),
         "x": history["ended_s"].tolist(), "y": history["best_so_far"].tolist()}
        for name, history in histories.items()
    ]
    better = Direction(direction).word
    return {
        "data": traces,
        "layout": {
            "title": {"text": f"Best {label(objective)} so far, by search ({better} is better)"},
            "xaxis": {"title": {"text": "seconds since the search's first trial started"}},
            "yaxis": {"title": {"text": label(objective)}},
            "height": 420,
        },
    }
