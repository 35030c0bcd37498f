"""The offline report, opened in a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import isolate_wandb

from kt_wandb import WandbTuner
from kt_wandb.analysis import write_report
from kt_wandb.analysis._report import ABSENT, _dimension

ARTIFACTS = Path(os.environ.get("KT_WANDB_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Values that would run script if the report pasted them in unescaped.
INJECTED = ['<img src=x onerror="window.__pwned=1">', "</script><script>window.__pwned=2</script>"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return path


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


def test_the_report_renders_every_trial_and_runs_nothing_injected(report):
    from playwright.sync_api import sync_playwright

    path, tuner = report
    trials = tuner.oracle.trials.values()
    completed = [t for t in trials if t.status == "COMPLETED"]
    assert len(trials) == 4 and len(completed) == 3
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1800})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(path.as_uri())
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length === 3")
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
        finally:
            browser.close()
    assert errors == []
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
