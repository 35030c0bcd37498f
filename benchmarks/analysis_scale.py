"""The results table, importance and report of a synthetic search, and the report's load in Chromium.

Targets: 1,000 trials <= 1 s for all three; 10,000 trials <= 5 s, the report <= 10 MB and interactive in
headless Chromium (navigation start to the charts drawn and the table's first rows shown) in <= 3 s.

The search's records are made synthetically, with KerasTuner's own `Trial` objects
(so `trial.json` is exactly what KerasTuner writes) and the tuner's run records,
10 epochs of 4 metrics a trial. Imports are timed apart: they are paid once a process.
It then times the report's steps one by one (reading the records, the frames, the
importance forest, each chart, the table), so the split shows where the time goes.

    python benchmarks/analysis_scale.py [--trials 1000] [--epochs 10] [--browser | --no-browser] [--loads 3]

`--browser` (the default where playwright and Chromium are installed) opens the report `--loads` times.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def make_search(root: Path, trials: int, epochs: int, seed: int = 0) -> None:
    """Writes a search of `trials` completed trials, `epochs` epochs each, to `root` as the tuner would."""
    import keras_tuner as kt
    from keras_tuner.src.engine.trial import Trial

    from kt_wandb._records import IDENTITY_FILE, RUN_RECORD

    rng = random.Random(seed)
    space = kt.HyperParameters()
    space.Int("units", 32, 512, step=32)
    space.Float("dropout", 0.0, 0.5, step=0.1)
    space.Float("learning_rate", 1e-4, 1e-1, sampling="log")
    space.Choice("optimizer", ["adam", "sgd", "rmsprop"])
    space.Int("layers", 1, 4)
    root.mkdir(parents=True, exist_ok=True)
    (root / IDENTITY_FILE).write_text(
        json.dumps({"search_id": "bench000", "objective": "val_accuracy", "direction": "max", "oracle": "random"})
    )
    for index in range(trials):
        hp = space.copy()
        hp.values = {
            "units": rng.randrange(32, 513, 32),
            "dropout": rng.choice([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]),
            "learning_rate": 10 ** rng.uniform(-4, -1),
            "optimizer": rng.choice(["adam", "sgd", "rmsprop"]),
            "layers": rng.randint(1, 4),
        }
        quality = 1 - abs(math.log10(hp.values["learning_rate"]) + 2.5) / 3
        history = []
        for epoch in range(epochs):
            accuracy = quality * (1 - math.exp(-(epoch + 1) / 3)) + rng.gauss(0, 0.01)
            history.append(
                {"epoch": epoch, "accuracy": accuracy + 0.02, "loss": 1 - accuracy,
                 "val_accuracy": accuracy, "val_loss": 1.05 - accuracy}
            )
        best = max(history, key=lambda e: e["val_accuracy"])
        trial = Trial(hp, trial_id=f"{index:04d}", status="COMPLETED")
        for name in ("accuracy", "loss", "val_accuracy", "val_loss"):
            trial.metrics.register(name, direction="max" if "accuracy" in name else "min")
            trial.metrics.update(name, best[name], step=best["epoch"])
        trial.score, trial.best_step = best["val_accuracy"], best["epoch"]
        folder = root / f"trial_{trial.trial_id}"
        folder.mkdir()
        trial.save(str(folder / "trial.json"))
        (folder / RUN_RECORD).write_text(
            json.dumps({"run_id": f"bench000-{trial.trial_id}", "exit_code": 0, "duration_s": 2.0,
                        "started": f"2026-01-01T{index * 2 // 3600:02d}:{index * 2 // 60 % 60:02d}:"
                                   f"{index * 2 % 60:02d}+00:00",
                        "history": [history]})
        )


CHARTS = 5  # the report's plotly charts: history, parallel coordinates, slices, importance, learning curves
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Navigation start to the charts drawn and the table's first rows shown, in ms, once it is so.
READY = (
    f"() => document.querySelectorAll('.js-plotly-plot').length === {CHARTS}"
    " && document.querySelector('#trials tbody tr') !== null ? performance.now() : false"
)
# When the parser adds each element with an id, in ms: the charts' scripts run one after the other, each
# before the parser goes on, so the next part's start is the end of the one before.
MARKS = """
window.__marks = {};
new MutationObserver(function (records) {
  records.forEach(function (r) { r.addedNodes.forEach(function (n) {
    if (n.id && !(n.id in window.__marks)) { window.__marks[n.id] = performance.now(); }
  }); });
}).observe(document, {childList: true, subtree: true});
"""
# The report's parts in the page, each named by the element the parser adds once the part before is done.
PARTS = (("plotly.js and history", "parcoords"), ("parallel coordinates", "slices"), ("slices", "importance"),
         ("importance bars", "curves"), ("learning curves", "trials-controls"))


def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """`function(*args, **kwargs)` and the seconds it took."""
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def report_steps(root: Path) -> dict[str, float]:
    """The report's steps one by one, as `report_data` and `write_report` run them: seconds each."""
    import numpy as np
    import plotly.io

    from kt_wandb.analysis import _report
    from kt_wandb.analysis._results import learning_curves, load_trials, results_frame, search_space

    steps: dict[str, float] = {}
    trials, steps["reading the records"] = timed(load_trials, root)
    frame, steps["results frame"] = timed(results_frame, root, trials=trials)
    curves, steps["curves frame"] = timed(learning_curves, root, trials=trials)
    completed = frame[np.isfinite(frame["score"].astype(float))]
    importance, steps["importance forest"] = timed(_report.parameter_importance, completed)
    data = _report.ReportData(
        title=root.name, frame=frame, curves=curves, importance=importance, space=search_space(trials),
        objective=frame.attrs["objective"], direction=frame.attrs["direction"],
    )
    history, steps["history"] = timed(_report.optimization_history, frame, data.direction)
    figures = [_report.history_figure(history, data.objective, data.direction)]
    charts, steps["slices"] = timed(_report.slices, frame, data.space)
    figures.append(_report.slices_figure(charts, data.objective, data.direction))
    for name, draw in (("parallel coordinates", _report._parallel_coordinates),
                       ("importance bars", _report._importance_bars), ("learning curves", _report._learning_curves)):
        figure, steps[name] = timed(draw, data)
        figures.append(figure)
    _, steps["table"] = timed(_report._table, data)
    _, steps["charts to HTML"] = timed(
        lambda: [plotly.io.to_html(f, full_html=False, include_plotlyjs=False, validate=False) for f in figures]
    )
    return steps


def browser_loads(path: Path, loads: int) -> list[tuple[float, dict[str, float]]] | None:
    """Milliseconds from navigation start to the report being interactive, each of `loads` fresh pages,
    with the milliseconds of each part of the page (`PARTS`, and the table) in that load.

    None where playwright or Chromium is missing.

    Raises:
        RuntimeError: When the page throws.
    """
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if executable is None:
        return None
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            for _ in range(loads):
                page = browser.new_page(viewport={"width": 1300, "height": 1800})
                page.add_init_script(MARKS)
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))  # noqa: B023 (used at once)
                page.goto(path.as_uri(), wait_until="commit")
                ready = float(page.wait_for_function(READY, polling="raf", timeout=120_000).json_value())
                times.append((ready, split(page.evaluate("window.__marks"), ready)))
                if errors:
                    raise RuntimeError(f"the report threw in Chromium: {errors}")
                page.close()
        finally:
            browser.close()
    return times


def split(marks: dict[str, float], ready: float) -> dict[str, float]:
    """Each part's milliseconds in the page, from when the parser added each element (`MARKS`)."""
    ends = [0.0] + [marks.get(element, math.nan) for _, element in PARTS] + [ready]
    names = [name for name, _ in PARTS] + ["table"]
    return {name: ends[i + 1] - ends[i] for i, name in enumerate(names)}


def verdict(value: float, target: float, unit: str) -> str:
    """Whether `value` meets its target, in words."""
    return f"target <= {target:g} {unit}: {'met' if value <= target else 'MISSED'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--browser", action=argparse.BooleanOptionalAction, default=None,
                        help="time the report's load in headless Chromium (default: where installed)")
    parser.add_argument("--loads", type=int, default=3, help="page loads to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kt-wandb-scale-") as folder:
        measure(Path(folder) / "search", args)


def measure(root: Path, args: argparse.Namespace) -> None:
    """Makes the search in `root`, times its analysis and report, and prints the figures against the targets."""
    _, made = timed(make_search, root, args.trials, args.epochs)

    started = time.perf_counter()
    import plotly.graph_objects  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    from kt_wandb.analysis import parameter_importance, results_frame, write_report

    imports = time.perf_counter() - started

    timings = {}
    frame, timings["results table"] = timed(results_frame, root)
    importance, timings["importance"] = timed(parameter_importance, frame)
    path, timings["report (all of it)"] = timed(write_report, root)  # reads the records again: table, importance
    steps = report_steps(root)
    total, size = sum(timings.values()), path.stat().st_size / 1e6

    print(f"{args.trials} trials, {args.epochs} epochs each (written in {made:.1f} s); "
          f"imports (once a process): {imports:.2f} s")
    for name, seconds in timings.items():
        print(f"  {name:20s} {seconds:6.2f} s")
    print("  the report's steps, one by one: " + ", ".join(f"{k} {v:.3f} s" for k, v in steps.items()))
    print(f"top parameter: {importance.parameter[0]} ({importance.importance[0]:.2f})")
    print(f"table + importance + report: {total:.2f} s ({verdict(total, 1 if args.trials <= 1000 else 5, 's')}); "
          f"the report alone, which does all three: {timings['report (all of it)']:.2f} s")
    print(f"report: {size:.2f} MB ({verdict(size, 10, 'MB')})")
    loads = browser_loads(path, args.loads) if args.browser is not False else None
    if loads is None:
        if args.browser:
            raise SystemExit("--browser needs playwright and Chromium (apt-get install chromium)")
        print("browser: not timed (playwright or Chromium missing)")
    else:
        middle, parts = sorted(loads, key=lambda load: load[0])[len(loads) // 2]  # the median load
        print(f"browser: interactive in {middle:.0f} ms, the median of {len(loads)} loads "
              f"({', '.join(f'{ready:.0f}' for ready, _ in loads)}) ({verdict(middle, 3000, 'ms')})")
        print("  that load's parts: " + ", ".join(f"{name} {ms:.0f} ms" for name, ms in parts.items()))


if __name__ == "__main__":
    main()
