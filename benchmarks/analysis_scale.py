"""The results table, importance and report of a synthetic search, and the report's load in Chromium.

Targets: 1,000 trials <= 1 s for all three; 10,000 trials <= 5 s, the report <= 10 MB and interactive in
headless Chromium in <= 3 s: from navigation start to the first screen's charts drawn, the table's first rows
shown and no long task (over 50 ms, when the page answers no input) for a second after, in a 1300x900 window.

The search's records are made synthetically, with KerasTuner's own `Trial` objects
(so `trial.json` is exactly what KerasTuner writes) and the tuner's run records,
10 epochs of 4 metrics a trial. Imports are timed apart: they are paid once a process.
It then times the report's steps one by one (reading the records, the frames, the
importance forest, each chart, the table), so the split shows where the time goes.

    python benchmarks/analysis_scale.py [--trials 1000] [--epochs 10] [--browser | --no-browser] [--loads 3]

`--browser` (the default where playwright and Chromium are installed) opens the report `--loads` times.
The report draws a chart when it comes onto the screen, so each load then scrolls to each chart below the
first screen and times its drawing: the part of the page's cost that is paid only when looked at. With
`--disable-gpu`, Chromium draws WebGL in software: the parallel coordinates, and the history and slices past
1,000 trials, about a second each here; a GPU draws them in a fraction of that.
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
from dataclasses import dataclass
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


CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1300, "height": 900}  # a laptop's browser window
QUIET_MS = 1000  # the page is interactive once no long task has run for this long
# The page's long tasks (over 50 ms: the page answers no input during one), from its start.
LONG_TASKS = """
window.__long = [];
new PerformanceObserver(function (list) {
  list.getEntries().forEach(function (e) { window.__long.push(e.startTime + e.duration); });
}).observe({type: 'longtask', buffered: true});
"""
# The first screen: its charts drawn and the table's first rows shown, in ms from navigation start, once so.
FIRST_SCREEN = """() => {
  const shown = [...document.querySelectorAll('.kt-chart')].filter(chart => {
    const box = chart.getBoundingClientRect();
    return box.bottom > 0 && box.top < innerHeight;
  });
  return shown.length > 0 && shown.every(chart => chart.classList.contains('js-plotly-plot'))
    && document.querySelector('#trials tbody tr') !== null ? performance.now() : false;
}"""
# Scrolls the first chart not drawn onto the screen: the ms until it is drawn and the frame after painted,
# and the charts drawn by then (those that came onto the screen with it), or null when every chart is drawn.
SCROLL_ON = """async () => {
  const waiting = () => [...document.querySelectorAll('.kt-chart:not(.js-plotly-plot)')].map(c => c.id);
  const before = waiting();
  if (!before.length) { return null; }
  const chart = document.getElementById(before[0]);
  const frame = () => new Promise(resolve => requestAnimationFrame(resolve));
  const started = performance.now();
  chart.scrollIntoView();
  while (!chart.classList.contains('js-plotly-plot')) {
    if (performance.now() - started > 120000) { throw new Error(chart.id + ' was not drawn in 2 minutes'); }
    await frame();
  }
  await frame();
  const after = waiting();
  return [performance.now() - started, before.filter(id => !after.includes(id)).join(' and ')];
}"""


def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """`function(*args, **kwargs)` and the seconds it took."""
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def report_steps(root: Path) -> dict[str, float]:
    """The report's steps one by one, as `report_data` and `write_report` run them: seconds each."""
    import numpy as np

    from kt_wandb.analysis import _report
    from kt_wandb.analysis._charts import charts_html
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
    _, steps["charts to HTML"] = timed(charts_html, [(str(i), f) for i, f in enumerate(figures)])
    return steps


@dataclass
class Load:
    """One page load's times, in ms from navigation start; `scrolled`: the charts each scroll drew, and its ms."""

    first_screen: float
    interactive: float
    scrolled: dict[str, float]


def browser_loads(path: Path, loads: int) -> list[Load] | None:
    """Opens the report `loads` times in fresh pages, each time scrolling to the charts below the first screen.

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
                page = browser.new_page(viewport=VIEWPORT)
                page.add_init_script(LONG_TASKS)
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))  # noqa: B023 (used at once)
                page.goto(path.as_uri(), wait_until="commit")
                times.append(load_times(page))
                if errors:
                    raise RuntimeError(f"the report threw in Chromium: {errors}")
                page.close()
        finally:
            browser.close()
    return times


def load_times(page: Any) -> Load:
    """The first screen's times of the page being loaded, then each chart's below it as it is scrolled to."""
    first = float(page.wait_for_function(FIRST_SCREEN, polling="raf", timeout=120_000).json_value())
    while True:  # interactive: the first screen shown and no long task since for QUIET_MS
        page.wait_for_timeout(QUIET_MS)
        now, ends = page.evaluate("[performance.now(), window.__long]")
        interactive = max([first, *ends])
        if now - interactive >= QUIET_MS:
            break
    scrolled = {}
    while (drawn := page.evaluate(SCROLL_ON)) is not None:
        scrolled[drawn[1]] = float(drawn[0])
    return Load(first, interactive, scrolled)


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
        return
    load = sorted(loads, key=lambda one: one.interactive)[len(loads) // 2]  # the median load
    window = f"{VIEWPORT['width']}x{VIEWPORT['height']}"
    print(f"browser ({window} window, software WebGL): the first screen drawn in {load.first_screen:.0f} ms, "
          f"interactive in {load.interactive:.0f} ms, the median of {len(loads)} loads "
          f"({', '.join(f'{one.interactive:.0f}' for one in loads)}) ({verdict(load.interactive, 3000, 'ms')})")
    scrolled = ", ".join(f"{chart} {ms:.0f} ms" for chart, ms in load.scrolled.items())
    print(f"  the charts below it, drawn when scrolled to: {scrolled or 'none'}; every chart drawn: "
          f"{load.interactive + sum(load.scrolled.values()):.0f} ms")


if __name__ == "__main__":
    main()
