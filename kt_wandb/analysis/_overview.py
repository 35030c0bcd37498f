"""The report's opening lines: trials by status, the errors of the failed ones, the best trial and its run."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kt_wandb._direction import Direction
from kt_wandb._records import Status

__all__ = ["best_row", "number_text", "overview_html", "run_reference"]

_ORDER = (Status.COMPLETED, Status.PRUNED, Status.RUNNING, Status.FAILED, Status.INVALID)


def best_row(frame: pd.DataFrame, direction: str) -> dict[str, Any] | None:
    """The row of the trial with the best finite score, or None."""
    scores = pd.to_numeric(frame["score"], errors="coerce").where(lambda s: np.isfinite(s))
    if scores.notna().sum() == 0:
        return None
    return dict(frame.loc[Direction(direction).best_label(scores)])


def run_reference(row: dict[str, Any]) -> str:
    """A trial's W&B run as HTML: the run's page online; offline its id, local folder and sync command."""
    run_id = row.get("wandb_run_id")
    if not isinstance(run_id, str):
        return "no W&B run"
    url = row.get("wandb_url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return f'<a href="{html.escape(url)}" target="_blank" rel="noopener">{html.escape(run_id)}</a>'
    folder = row.get("wandb_run_dir")
    if not isinstance(folder, str):  # W&B disabled, or it could not start
        return f"{html.escape(run_id)} (no W&amp;B files)"
    return (f'{html.escape(run_id)} (offline: <a href="{html.escape(Path(folder).as_uri())}">its folder</a>; '
            f"upload it with <code>wandb sync {html.escape(folder)}</code>)")


def number_text(value: Any) -> str:
    """A cell's text: a float to 6 significant digits (NaN: nothing), anything else escaped."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return html.escape(str(value), quote=False)


def _counts(frame: pd.DataFrame) -> str:
    counts = frame["status"].value_counts()
    ordered = [s for s in _ORDER if s in counts] + sorted(set(counts.index) - set(_ORDER))
    items = "".join(f'<li class="status-{html.escape(s.lower())}"><b>{int(counts[s])}</b> {html.escape(s.lower())}'
                    f"</li>" for s in ordered)
    return f'<ul class="statuses" id="statuses">{items}</ul>'


def _errors(frame: pd.DataFrame) -> str:
    failed = frame[frame["status"].isin(["FAILED", "INVALID"]) & frame["error"].notna()]
    if failed.empty:
        return ""
    grouped = failed.groupby("error", sort=False)["trial_id"].agg(list)
    items = "".join(f"<li><code>{html.escape(str(error), quote=False)}</code>: trial(s) "
                    f"{html.escape(', '.join(map(str, ids)), quote=False)}</li>" for error, ids in grouped.items())
    return f'<details class="errors"><summary>Why trials failed</summary><ul>{items}</ul></details>'


def overview_html(frame: pd.DataFrame, objective: str, direction: str) -> str:
    """Trials by status, the failed ones' errors, and the best trial's score, hyperparameters and run."""
    best = best_row(frame, direction)
    if best is None:
        best_html = "<p>No trial has a score yet.</p>"
    else:
        params = "".join(f"<li>{html.escape(k[len('param_'):], quote=False)} = {number_text(v)}</li>"
                         for k, v in best.items() if k.startswith("param_") and not _missing(v))
        best_html = (f'<p id="best">Best: trial {html.escape(str(best["trial_id"]), quote=False)}, '
                     f"{html.escape(objective, quote=False)} = {number_text(float(best['score']))}; "
                     f"run {run_reference(best)}.</p><ul class=\"best-params\">{params}</ul>")
    return _counts(frame) + best_html + _errors(frame)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
