"""The offline report, opened in a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from kt_wandb import WandbTuner
from kt_wandb.analysis import learning_curves, write_report
from kt_wandb.analysis._report import ABSENT, _dimension
from tests.helpers.environment import child_env, isolate_wandb

ARTIFACTS = Path(os.environ.get("KT_WANDB_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Values that would run script if the report pasted them in unescaped.
INJECTED = ['<img src=x onerror="window.__pwned=1">', "</script><script>window.__pwned=2</script>"]
# Whether the chart with this id is drawn (plotly marks the div it has drawn into).
DRAWN = "chart => document.getElementById(chart).classList.contains('js-plotly-plot')"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for a module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def draw_every_chart(page) -> int:
    """Scrolls each chart onto the screen, as a reader does, until it is drawn; how many charts there are."""
    charts = page.evaluate("Array.from(document.querySelectorAll('.kt-chart')).map(chart => chart.id)")
    for chart in charts:
        page.locator(f"#{chart}").scroll_into_view_if_needed()
        page.wait_for_function(DRAWN, arg=chart)
    page.evaluate("window.scrollTo(0, 0)")
    return len(charts)


def build(hp):
    import keras

    tag = hp.Choice("tag", INJECTED)
    units = hp.Choice("units", [8, 16])
    if units == 16 and tag == INJECTED[0]:
        raise RuntimeError('<img src=x onerror="window.__pwned=3">')
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(10, "softmax")]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def report(tmp_path_factory, digits):
    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as monkeypatch:  # one search, written once for this module's tests
        isolate_wandb(monkeypatch, root / "wandb-env")
        tuner = WandbTuner(
            build, objective="val_accuracy", oracle="grid",
            directory=str(root), project_name="report", max_consecutive_failed_trials=10,
        )
        tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0)
    return Path(tuner.report()), tuner


def test_the_report_renders_every_trial_and_runs_nothing_injected(report, browser):
    path, tuner = report
    trials = tuner.oracle.trials.values()
    completed = [t for t in trials if t.status == "COMPLETED"]
    assert len(trials) == 4 and len(completed) == 3
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1300, "height": 1800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    assert draw_every_chart(page) == 5
    history = page.evaluate(HISTORY)
    slices = page.evaluate("document.getElementById('slices')._fullData.map(t => t.x.length)")
    page.click("#history-axis button[data-axis=time]")
    by_time = page.evaluate(BEST_LINE)
    page.click("#history-axis button[data-axis=number]")
    by_number = page.evaluate(BEST_LINE)
    lines = page.evaluate("document.getElementById('parcoords')._fullData[0]._length")
    axes = page.evaluate("document.querySelectorAll('#parcoords .axis-title').length")
    bars = page.evaluate("document.getElementById('importance')._fullData[0]._length")
    curves = page.evaluate("document.getElementById('curves')._fullData.length")
    rows = page.evaluate("document.querySelectorAll('#trials tbody tr').length")
    pwned = page.evaluate("window.__pwned")
    column = page.evaluate(
        "Array.from(document.querySelectorAll('#trials th')).findIndex(th => th.textContent === 'score')"
    )
    first_score = f"#trials tbody tr:first-child td:nth-child({column + 1})"
    page.click("#trials th >> text='score'")
    ascending = page.get_attribute(first_score, "data-value")
    page.click("#trials th >> text='score'")
    descending = page.get_attribute(first_score, "data-value")
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert errors == []
    assert history["completed"] == len(completed) and history["failed (no score)"] == 1  # failed: no zero
    best = history["best"]
    assert len(best) == len(trials) and best == sorted(best)  # monotone in the objective's direction (max)
    assert best[-1] == pytest.approx(max(t.score for t in completed), rel=1e-5)  # drawn to 6 digits
    assert slices == [len(completed), len(completed)]  # tag and units, a point per trial with a score
    assert by_time[0] == by_time[1] and by_time[0] == sorted(by_time[0])  # seconds, as the trials ended
    assert by_number[0] == list(range(1, len(trials) + 1))
    assert lines == len(completed)  # one line per completed trial
    assert axes == 3  # tag, units and the objective
    assert bars == 3  # tag=..., tag=..., units
    assert curves == len(completed)
    assert rows == len(trials)
    assert pwned is None
    scores = sorted(t.score for t in completed)
    # Sorting by score, both ways: the failed trial has none and stays last.
    assert float(descending) == pytest.approx(scores[-1])
    assert float(ascending) == pytest.approx(scores[0])

WAITING = "Array.from(document.querySelectorAll('.kt-chart:not(.js-plotly-plot)')).map(chart => chart.id)"
BELOW_THE_SCREEN = ("Array.from(document.querySelectorAll('.kt-chart'))"
                    ".filter(chart => chart.getBoundingClientRect().top >= innerHeight).map(chart => chart.id)")


def test_a_chart_is_drawn_when_it_comes_onto_the_screen_and_every_chart_before_printing(report, browser):
    path, _ = report
    page = browser.new_page(viewport={"width": 1300, "height": 600})
    page.goto(path.as_uri())
    page.wait_for_function(DRAWN, arg="history")
    page.wait_for_timeout(500)  # time to draw anything else it would
    at_first, below = page.evaluate(WAITING), page.evaluate(BELOW_THE_SCREEN)
    placeholder = page.text_content("#curves")
    page.locator("#curves").scroll_into_view_if_needed()
    page.wait_for_function(DRAWN, arg="curves")
    after_scroll = page.evaluate(WAITING)
    printed = browser.new_page(viewport={"width": 1300, "height": 600})
    printed.goto(path.as_uri())
    printed.wait_for_function(DRAWN, arg="history")
    printed.pdf()
    after_print = printed.evaluate(WAITING)
    assert "curves" in below and at_first == below  # exactly those below the first screen wait
    assert "drawing the chart" in placeholder
    assert "curves" not in after_scroll and "importance" in after_scroll  # what was scrolled past stays undrawn
    assert after_print == []  # a printed report has every chart


# The history's best-so-far line: its x, and the seconds each of its points ended at.
BEST_LINE = """(() => {
  const line = document.getElementById('history').data.find(t => t.name === 'best so far');
  return [Array.from(line.x), Array.from(line.customdata)];
})()"""
# The history chart's points by trace name, and its best-so-far line's values.
HISTORY = """(() => {
  const out = {};
  for (const t of document.getElementById('history')._fullData) {
    if (t.name === 'best so far') { out.best = Array.from(t.y); } else { out[t.name] = t.x.length; }
  }
  return out;
})()"""


def test_the_report_is_self_contained_and_escapes_what_it_shows(report):
    path, _ = report
    text = path.read_text()
    assert not re.search(r"<script[^>]+src=", text)  # plotly.js is inlined: no network needed
    assert "<img src=x" not in text and "</script><script>window" not in text
    assert "&lt;img src=x" in text  # the values and the error are there, as text


def test_log_axes_categories_and_absent_values():
    log = _dimension("lr", pd.Series([1e-4, 1e-3, None]), {"class": "Float", "sampling": "log"})
    assert log["label"] == "lr (log)"
    assert log["values"][:2] == pytest.approx([-4.0, -3.0])
    assert log["ticktext"][0] == ABSENT and log["values"][2] < -4.0
    choice = _dimension("opt", pd.Series(["sgd", "adam", None]), {"class": "Choice"})
    assert choice["ticktext"] == ["adam", "sgd", ABSENT]
    assert choice["values"] == [1.0, 0.0, 2.0]


def test_kt_wandb_report_command(report, tmp_path, capsys):
    from kt_wandb.cli import main

    _, tuner = report
    out = tmp_path / "r.html"
    assert main(["report", tuner.project_dir, "-o", str(out)]) == 0
    assert out.exists() and str(out) in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "Expected a KerasTuner project directory" in capsys.readouterr().err


def test_write_report_to_a_path(report, tmp_path):
    _, tuner = report
    assert write_report(tuner.project_dir, tmp_path / "x" / "y.html").exists()


def open_page(browser, path: Path, charts: int):
    page = browser.new_page(viewport={"width": 1300, "height": 1400})
    page.goto(path.as_uri())
    assert draw_every_chart(page) == charts
    return page


def test_several_searches_in_one_report_share_a_history_chart_and_a_table(report, tmp_path, digits, browser):
    from kt_wandb.cli import main

    _, grid = report
    other = WandbTuner(build, objective="val_accuracy", oracle="random", max_trials=2, seed=0, wandb_mode="disabled",
                       directory=str(tmp_path), project_name="random", max_consecutive_failed_trials=10)
    other.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    out = tmp_path / "both.html"
    assert main(["report", grid.project_dir, other.project_dir, "-o", str(out)]) == 0
    page = open_page(browser, out, 1)
    lines = page.evaluate("document.getElementById('searches-history')._fullData.map(t => t.name)")
    rows = page.evaluate("document.querySelectorAll('#trials tbody tr').length")
    searches = page.evaluate("Array.from(document.querySelectorAll('#trials-by-search option'))"
                             ".map(o => o.value)")
    page.select_option("#trials-by-search", "random")
    only = page.evaluate("document.querySelectorAll('#trials tbody tr').length")
    pwned = page.evaluate("window.__pwned")
    assert lines == ["report", "random"]  # one best-so-far line a search
    assert rows == len(grid.oracle.trials) + len(other.oracle.trials)
    assert searches == ["", "random", "report"] and only == len(other.oracle.trials)
    assert pwned is None


LIVE_SEARCH = """
import sys, time
import keras
from sklearn.datasets import load_digits
from kt_wandb import WandbTuner

class Slow(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        time.sleep(3)  # trials long enough for the page to see each report

def build(hp):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 32, step=8)),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

x, y = load_digits(return_X_y=True)
tuner = WandbTuner(build, objective="val_accuracy", oracle="grid", max_trials=4, wandb_mode="disabled",
                   live_report=0.9, directory=sys.argv[1], project_name="live")
tuner.search(x[:300] / 16.0, y[:300], epochs=1, validation_split=0.25, verbose=0, callbacks=[Slow()])
"""


@pytest.mark.slow
def test_the_live_report_reloads_while_the_search_runs_and_stops_after(tmp_path, browser):
    import subprocess
    import sys
    import time

    from kt_wandb.analysis._live import POLL_SECONDS

    script = tmp_path / "live.py"
    script.write_text(LIVE_SEARCH)
    page_path = tmp_path / "runs" / "live" / "report.html"
    search = subprocess.Popen([sys.executable, str(script), str(tmp_path / "runs")], env=child_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not page_path.exists():
        assert search.poll() is None and time.monotonic() < deadline, search.communicate()[1][-3000:]
        time.sleep(0.1)
    page = browser.new_page()
    loads: list[float] = []
    page.on("load", lambda: loads.append(time.time()))
    page.goto(page_path.as_uri())
    while search.poll() is None:  # playwright's own waits: its events are dispatched meanwhile
        assert time.monotonic() < deadline + 300
        page.wait_for_timeout(200)
    assert search.returncode == 0, search.stderr.read()[-3000:]
    final_written = page_path.stat().st_mtime  # the search wrote the final report before it exited
    page.wait_for_timeout(3000 * POLL_SECONDS)  # the last poll finds the final report
    after_end = len(loads)
    page.wait_for_timeout(4000 * POLL_SECONDS)
    final_rows = page.evaluate("document.querySelectorAll('#trials tbody tr').length")
    polling = page.evaluate("Array.from(document.scripts).some(s => s.textContent.includes('ktWandbStamp'))")
    page.close()
    assert len(loads) == after_end  # once the search has ended, the page stays
    assert final_rows == 4 and not polling  # the final report, which no longer polls
    assert len([t for t in loads if t < final_written]) >= 2  # opened, and reloaded while trials ended
    assert loads[-1] >= final_written  # and once more, into the final report


def test_the_live_report_is_written_only_within_its_share_of_the_search(tmp_path, digits):
    from kt_wandb.tuners._live_report import LiveReport

    tuner = WandbTuner(build, objective="val_accuracy", oracle="grid", max_trials=1, wandb_mode="disabled",
                       live_report=False, directory=str(tmp_path), project_name="s")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    assert not Path(tuner.report_path).exists()  # live_report=False: only report() writes it
    live = LiveReport(tuner.project_dir, share=0.02)
    live.begin()  # a search that has trials already: the report so far
    written = Path(tuner.report_path).stat().st_mtime_ns
    live.spent = 1e9  # as if writing had taken far more than 2 % of the search so far
    live.trial_ended()
    assert Path(tuner.report_path).stat().st_mtime_ns == written
    live.spent = 0.0
    live.trial_ended()
    assert Path(tuner.report_path).stat().st_mtime_ns > written
    live.end()
    assert "ktWandbStamp" not in Path(tuner.report_path).read_text()  # the final one doesn't reload


def test_report_returns_the_searchs_final_live_report_as_it_is_and_writes_one_elsewhere(tmp_path, digits):
    tuner = WandbTuner(build, objective="val_accuracy", oracle="grid", max_trials=1, wandb_mode="disabled",
                       directory=str(tmp_path), project_name="s")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    final = Path(tuner.report_path).stat().st_mtime_ns
    assert tuner.report() == tuner.report_path and Path(tuner.report_path).stat().st_mtime_ns == final
    elsewhere = tmp_path / "copy.html"
    assert tuner.report(elsewhere) == str(elsewhere) and elsewhere.read_text() == Path(tuner.report_path).read_text()


def test_a_hyperband_report_joins_each_continued_curve_to_its_parent_and_filters_by_bracket(tmp_path, digits, browser):
    tuner = WandbTuner(build_units, objective="val_accuracy", oracle="hyperband", max_epochs=3, factor=3, seed=0,
                       wandb_mode="disabled", directory=str(tmp_path), project_name="hb")
    tuner.search(*digits, validation_split=0.25, verbose=0)
    frame = tuner.results_frame().set_index("trial_id")
    children = frame[frame.continued_from.notna()]
    assert len(children) >= 1 and {"bracket", "round"} <= set(frame.columns)
    page = open_page(browser, Path(tuner.report()), 5)
    curves = page.evaluate("Object.fromEntries(document.getElementById('curves').data"
                           ".map(t => [t.name, Array.from(t.x)]))")
    values = page.evaluate("Object.fromEntries(document.getElementById('curves').data"
                           ".map(t => [t.name, Array.from(t.y)]))")
    # Each trial's val_accuracy by epoch, as its record holds it: what the chart's lines must show.
    recorded = learning_curves(tuner.project_dir).query("metric == 'val_accuracy' and execution == 0")
    recorded = {trial: dict(zip(rows.epoch, rows.value, strict=True)) for trial, rows in recorded.groupby("trial_id")}
    brackets = page.evaluate("Array.from(document.querySelectorAll('#trials-by-bracket option'))"
                             ".map(o => o.value)")
    bracket = str(int(children.bracket.iloc[0]))
    page.select_option("#trials-by-bracket", bracket)
    rows = page.evaluate("document.querySelectorAll('#trials tbody tr').length")
    for child, row in children.iterrows():
        parent = curves[f"trial {row.continued_from}"]
        # The child's line starts where its parent's ended, then goes on from its own first epoch.
        assert curves[f"trial {child}"][:2] == [parent[-1], parent[-1] + 1]
        # ... at the parent's value there (the parent's own line, and its record), then the child's own values.
        joined, *own = values[f"trial {child}"]
        assert joined == values[f"trial {row.continued_from}"][-1]
        assert joined == pytest.approx(recorded[row.continued_from][parent[-1]])
        assert own == pytest.approx([recorded[child][epoch] for epoch in curves[f"trial {child}"][1:]])
    assert brackets[1:] == sorted({str(int(b)) for b in frame.bracket})
    assert rows == int((frame.bracket == int(bracket)).sum())


def build_units(hp):
    import keras

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 64, step=8), activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
