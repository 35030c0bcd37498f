"""The report's parts that grow with the number of trials: the trials table and the learning curves drawn.

The table is one JSON payload (columns once, each row an array, about 190 bytes a trial)
that a small inline script renders 100 rows at a time with DOM methods: 10,000 trials
add 1.9 MB to the report and tens of milliseconds to its load. The script sorts, pages
and filters the rows; it writes every value with `textContent` and makes a link only of
an http, https or file URL.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kt_wandb._direction import Direction

__all__ = ["TABLE_SCRIPT", "curve_sample", "table_html", "table_payload"]

# The results table's columns the report shows, besides every `param_`, `metric_` and `execution_` column.
SHOWN = (
    "search", "trial_id", "status", "pruned_at_epoch", "bracket", "round", "continued_from", "score", "best_step",
    "duration_s", "error",
)
# Columns that get a select of their values above the table, beside the status's.
FILTERED = ("search", "bracket", "round")
SHOWN_PREFIXES = ("param_", "metric_", "execution_")
RUN_HEADER = "W&B run"
PAGE_SIZE = 100
CURVES_SHOWN = 100  # above this many trials, the learning-curves chart draws a sample ...
CURVES_BEST = 50  # ... the best this many, and a random draw of the rest
CURVES_SEED = 0


def shown_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of a results table that the report's table shows, in the table's order."""
    return [c for c in frame.columns if c in SHOWN or c.startswith(SHOWN_PREFIXES)]


def _json_value(value: Any) -> Any:
    """One cell as JSON: None where missing, a bool as Python writes it, +-inf as `Infinity`."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    return value if isinstance(value, (int, str)) else str(value)


def _column_values(values: pd.Series) -> list[Any]:
    """A column's cells as JSON values; float columns in one pass, the rest cell by cell."""
    if pd.api.types.is_float_dtype(values.dtype) and isinstance(values.dtype, np.dtype):
        numbers = values.to_numpy(dtype=float)
        cells: list[Any] = numbers.tolist()
        for index in np.flatnonzero(~np.isfinite(numbers)):
            cells[index] = _json_value(cells[index])
        return cells
    if pd.api.types.is_integer_dtype(values.dtype) and isinstance(values.dtype, np.dtype):
        return values.to_numpy().tolist()
    return [_json_value(v) for v in values.tolist()]


def run_target(url: Any, run_dir: Any) -> str | None:
    """Where a trial's run opens: its W&B page (http(s) only), else its local folder as a `file://` URL."""
    if isinstance(url, str) and url.strip().lower().startswith(("https://", "http://")):
        return url.strip()
    if isinstance(run_dir, str) and os.path.isabs(run_dir):
        return Path(run_dir).as_uri()
    return None


def _optional(frame: pd.DataFrame, column: str) -> list[Any]:
    return frame[column].tolist() if column in frame.columns else [None] * len(frame)


def table_payload(frame: pd.DataFrame, *, page_size: int = PAGE_SIZE) -> dict[str, Any]:
    """The report's table as data, for `table_html`.

    Args:
        frame: A results table, as `results_frame` makes it.
        page_size: The rows the page shows at a time.

    Returns:
        `columns` (the headers: `param_` dropped, `W&B run` last), `status` (the status
        column's index, or None), `filters` (the index and name of each other column
        with a select of its values: a comparison's `search`, Hyperband's `bracket` and
        `round`), `page_size` and `rows`: each row its shown values (None
        where missing), then its run's id, then where the run opens (`run_target`) or None.
    """
    shown = shown_columns(frame)
    cells = [_column_values(frame[c]) for c in shown]
    ids = [v if isinstance(v, str) else None for v in _optional(frame, "wandb_run_id")]
    places = zip(ids, _optional(frame, "wandb_url"), _optional(frame, "wandb_run_dir"), strict=True)
    targets = [run_target(url, folder) if run_id is not None else None for run_id, url, folder in places]
    return {
        "columns": [c.removeprefix("param_") for c in shown] + [RUN_HEADER],
        "status": shown.index("status") if "status" in shown else None,
        "filters": [[shown.index(c), c] for c in FILTERED if c in shown],
        "page_size": page_size,
        "rows": list(zip(*cells, ids, targets, strict=True)),
    }


def script_json(value: Any) -> str:
    """`value` as JSON that no value can end a `<script>` element with: `<`, `>` and `&` as `\\u003c` etc."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def table_html(payload: dict[str, Any]) -> str:
    """The table's controls, its empty `<table id="trials">` and its data; `TABLE_SCRIPT` fills it in."""
    return (
        '<div id="trials-controls">'
        '<input id="trials-filter" type="search" placeholder="filter rows" aria-label="filter rows"> '
        '<select id="trials-status" aria-label="status"><option value="">every status</option></select> '
        '<button id="trials-previous" type="button">previous</button> '
        '<span id="trials-range"></span> '
        '<button id="trials-next" type="button">next</button></div>\n'
        '<table id="trials"><thead><tr></tr></thead><tbody></tbody></table>\n'
        f'<script type="application/json" id="trials-data">{script_json(payload)}</script>'
    )


def curve_sample(
    trial_ids: Iterable[str], scores: pd.Series, direction: str, *, seed: int = CURVES_SEED,
    shown: int = CURVES_SHOWN, best_count: int = CURVES_BEST,
) -> tuple[list[str], str]:
    """Which trials' learning curves (or other lines) to draw, and what the chart's title says of them.

    Up to `shown` trials, all of them. Above, the `best_count` best by score (in the
    objective's `direction`), and a seeded random draw of the rest up to `shown` in all.

    Args:
        trial_ids: The trials that have a curve.
        scores: Each trial's score, indexed by trial id.
        direction: "max" or "min".
        seed: The random draw's seed.

    Returns:
        The trials to draw, sorted, and the title's note ("" when every trial is drawn).
    """
    everyone = sorted(set(trial_ids))
    if len(everyone) <= shown:
        return everyone, ""
    ranked = pd.to_numeric(scores.reindex(everyone), errors="coerce")
    ranked = ranked[np.isfinite(ranked.to_numpy(dtype=float))]
    best = Direction(direction).top(ranked, best_count).index.tolist()
    chosen = set(best)
    rest = [t for t in everyone if t not in chosen]
    drawn = random.Random(seed).sample(rest, min(len(rest), shown - len(best)))
    note = f"the best {len(best)} and a random {len(drawn)} of {len(everyone):,} trials"
    return sorted(chosen.union(drawn)), note


# Renders `#trials-data` into `#trials` a page at a time. Every value goes in with textContent; only an
# http(s) or file URL becomes a link. Sorting keeps missing values last both ways, numbers numerically.
TABLE_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('trials-data').textContent);
  var columns = data.columns, rows = data.rows, size = data.page_size, run = columns.length - 1;
  var table = document.getElementById('trials'), body = table.tBodies[0];
  var filter = document.getElementById('trials-filter'), select = document.getElementById('trials-status');
  var previous = document.getElementById('trials-previous'), next = document.getElementById('trials-next');
  var order = rows.map(function (row, i) { return i; }), shown = order, start = 0, texts = null;
  var collator = new Intl.Collator(undefined, {numeric: true});

  function missing(v) { return v === null || v === undefined || v === ''; }
  function number(v) { return typeof v === 'number' ? v : (String(v).trim() === '' ? NaN : Number(v)); }
  function display(v) {
    if (missing(v)) { return ''; }
    return (typeof v === 'number' && !Number.isInteger(v)) ? String(Number(v.toPrecision(6))) : String(v);
  }
  function safe(href) {
    try { return ['http:', 'https:', 'file:'].indexOf(new URL(href).protocol) >= 0; } catch (e) { return false; }
  }
  function runCell(td, row) {
    if (missing(row[run])) { return; }
    var href = row[run + 1], link = typeof href === 'string' && safe(href);
    var node = document.createElement(link ? 'a' : 'span');
    node.textContent = String(row[run]);
    if (link) { node.href = href; node.title = href; node.target = '_blank'; node.rel = 'noopener'; }
    td.appendChild(node);
  }
  function cell(row, c) {
    var td = document.createElement('td');
    td.dataset.value = missing(row[c]) ? '' : String(row[c]);
    if (c === run) { runCell(td, row); } else { td.textContent = display(row[c]); }
    return td;
  }
  function render() {
    var end = Math.min(start + size, shown.length), page = document.createDocumentFragment();
    for (var i = start; i < end; i++) {
      var tr = document.createElement('tr');
      for (var c = 0; c < columns.length; c++) { tr.appendChild(cell(rows[shown[i]], c)); }
      page.appendChild(tr);
    }
    body.replaceChildren(page);
    document.getElementById('trials-range').textContent =
      (shown.length ? 'rows ' + (start + 1) + '\\u2013' + end + ' of ' + shown.length : 'no rows') +
      (shown.length < rows.length ? ' (filtered from ' + rows.length + ')' : '');
    previous.disabled = start === 0;
    next.disabled = end >= shown.length;
  }
  var selects = (data.filters || []).map(function (f) {
    var choice = document.createElement('select');
    choice.id = 'trials-by-' + f[1];
    choice.setAttribute('aria-label', f[1]);
    choice.add(new Option('every ' + f[1], ''));
    Array.from(new Set(rows.map(function (row) { return row[f[0]]; }))).filter(function (v) { return !missing(v); })
      .sort(function (x, y) { return collator.compare(String(x), String(y)); })
      .forEach(function (v) { choice.add(new Option(display(v), String(v))); });
    choice.addEventListener('change', function () { apply(); });
    document.getElementById('trials-controls').insertBefore(choice, previous);
    return [f[0], choice];
  });
  function matches(i, status, needle) {
    if (status !== '' && rows[i][data.status] !== status) { return false; }
    for (var f = 0; f < selects.length; f++) {
      var wanted = selects[f][1].value;
      if (wanted !== '' && String(rows[i][selects[f][0]]) !== wanted) { return false; }
    }
    if (needle === '') { return true; }
    texts = texts || rows.map(function (row) { return row.slice(0, run + 1).map(display).join('\\n').toLowerCase(); });
    return texts[i].indexOf(needle) >= 0;
  }
  function apply() {
    var status = select.value, needle = filter.value.trim().toLowerCase();
    shown = order.filter(function (i) { return matches(i, status, needle); });
    start = 0;
    render();
  }
  function sortBy(column, ascending) {
    order.sort(function (a, b) {
      var x = rows[a][column], y = rows[b][column];
      if (missing(x) || missing(y)) { return missing(x) - missing(y); }  // missing values last, both ways
      var nx = number(x), ny = number(y);
      var result = (!isNaN(nx) && !isNaN(ny)) ? (nx > ny) - (nx < ny) : collator.compare(String(x), String(y));
      return ascending ? result : -result;
    });
    apply();
  }
  columns.forEach(function (name, column) {
    var th = document.createElement('th');
    th.textContent = name;
    th.addEventListener('click', function () {
      var ascending = th.dataset.order !== 'asc';
      th.dataset.order = ascending ? 'asc' : 'desc';
      sortBy(column, ascending);
    });
    table.tHead.rows[0].appendChild(th);
  });
  if (data.status !== null) {
    Array.from(new Set(rows.map(function (row) { return row[data.status]; }))).filter(function (s) {
      return !missing(s);
    }).sort().forEach(function (s) { select.add(new Option(String(s), String(s))); });
  }
  filter.addEventListener('input', apply);
  select.addEventListener('change', apply);
  previous.addEventListener('click', function () { start = Math.max(0, start - size); render(); });
  next.addEventListener('click', function () { if (start + size < shown.length) { start += size; render(); } });
  apply();
})();
"""
