"""The report's trials table and learning curves at scale: 250 synthetic trials, in a real headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.analysis_scale import make_search
from kt_wandb._records import RUN_RECORD
from kt_wandb.analysis import results_frame, write_report
from kt_wandb.analysis._table import TABLE_SCRIPT, curve_sample, script_json, table_html
from tests.analysis import test_report
from tests.analysis.test_report import INJECTED, draw_every_chart

TRIALS = 250
URL = "https://wandb.ai/team/scale/runs/bench000-0001"
RUN_DIR = "/tmp/kt-wandb-scale/wandb/offline-run-20260101_000000-bench000-0002"
EVIL = "javascript:window.__pwned=4"

browser = test_report.browser  # one Chromium for the module (a fixture)


def edit(path: Path, **changes: object) -> None:
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


def patch_search(root: Path) -> None:
    """Some trials pruned or failed, run links of each kind, and values that would run script if pasted in."""
    for index in range(TRIALS):
        folder = root / f"trial_{index:04d}"
        if index % 25 == 7:  # 10 failed trials: no score
            edit(folder / "trial.json", status="FAILED", score=None, best_step=None,
                 message="Traceback (most recent call last):\nRuntimeError: out of memory")
        elif index % 10 == 3:  # 25 pruned
            edit(folder / RUN_RECORD, pruned={"epoch": 1})
    edit(root / "trial_0001" / RUN_RECORD, url=URL)
    edit(root / "trial_0002" / RUN_RECORD, run_dir=RUN_DIR)
    edit(root / "trial_0003" / RUN_RECORD, url=EVIL, run_id="bench000-evil")
    edit(root / "trial_0004" / RUN_RECORD, run_id=INJECTED[0])
    trial = json.loads((root / "trial_0005" / "trial.json").read_text())
    trial["hyperparameters"]["values"]["optimizer"] = INJECTED[1]
    (root / "trial_0005" / "trial.json").write_text(json.dumps(trial))
    edit(root / "trial_0032" / "trial.json", message=f"Traceback:\nValueError: {INJECTED[1]}")


@pytest.fixture(scope="module")
def search(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("table") / "search"
    make_search(root, TRIALS, epochs=4)
    patch_search(root)
    return write_report(root), results_frame(root)


@pytest.fixture
def page(browser, search):
    """The report, opened in a fresh page; asserts afterwards that it threw nothing and ran nothing injected."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(search[0].as_uri())
    assert draw_every_chart(page) == 5
    yield page
    assert page.evaluate("window.__pwned") is None
    assert errors == []
    page.close()


def column(page, name: str) -> list[str]:
    """The shown rows' full values (`data-value`) in the column headed `name`."""
    return page.evaluate(
        """name => {
          const index = Array.from(document.querySelectorAll('#trials th')).findIndex(th => th.textContent === name);
          return Array.from(document.querySelectorAll('#trials tbody tr')).map(tr => tr.cells[index].dataset.value);
        }""",
        name,
    )


def shown(page) -> str:
    return page.text_content("#trials-range")


def test_a_page_of_100_rows_and_paging(page):
    assert shown(page) == f"rows 1\u2013100 of {TRIALS}"
    assert column(page, "trial_id") == [f"{i:04d}" for i in range(100)]
    assert page.is_disabled("#trials-previous")
    page.click("#trials-next")
    assert shown(page) == f"rows 101\u2013200 of {TRIALS}"
    assert column(page, "trial_id") == [f"{i:04d}" for i in range(100, 200)]
    page.click("#trials-next")
    assert column(page, "trial_id") == [f"{i:04d}" for i in range(200, TRIALS)]
    assert page.is_disabled("#trials-next")
    page.click("#trials-previous")
    assert shown(page) == f"rows 101\u2013200 of {TRIALS}"


def test_sorting_by_score_puts_the_best_first_and_missing_scores_last(page, search):
    frame = search[1]
    scores = frame["score"].dropna().sort_values()
    page.click("#trials th >> text='score'")  # ascending
    assert float(column(page, "score")[0]) == pytest.approx(scores.iloc[0])
    page.click("#trials th >> text='score'")  # descending: the best first, as the objective is maximised
    values = column(page, "score")
    assert float(values[0]) == pytest.approx(scores.iloc[-1])
    assert [float(v) for v in values] == pytest.approx(list(scores.iloc[::-1][:100]))
    page.click("#trials-next")
    page.click("#trials-next")
    assert column(page, "score")[-10:] == [""] * 10  # the failed trials, last both ways
    assert shown(page) == f"rows 201\u2013{TRIALS} of {TRIALS}"


def test_the_status_filter_leaves_only_that_status(page, search):
    options = page.eval_on_selector_all("#trials-status option", "options => options.map(o => o.value)")
    assert options == ["", "COMPLETED", "FAILED", "PRUNED"]
    page.select_option("#trials-status", "PRUNED")
    pruned = int((search[1]["status"] == "PRUNED").sum())
    assert pruned == 25
    assert shown(page) == f"rows 1\u2013{pruned} of {pruned} (filtered from {TRIALS})"
    assert set(column(page, "status")) == {"PRUNED"} and len(column(page, "status")) == pruned
    page.select_option("#trials-status", "")
    assert len(column(page, "status")) == 100


def test_the_text_filter(page, search):
    page.fill("#trials-filter", "bench000-0123")
    assert column(page, "trial_id") == ["0123"]
    page.fill("#trials-filter", "RMSprop")  # any column, any case
    rmsprop = search[1].index[search[1]["param_optimizer"] == "rmsprop"]
    assert column(page, "optimizer") == ["rmsprop"] * min(len(rmsprop), 100)
    assert shown(page).endswith(f"of {len(rmsprop)} (filtered from {TRIALS})")
    page.select_option("#trials-status", "FAILED")  # both filters at once
    frame = search[1]
    both = frame[(frame["status"] == "FAILED") & (frame["param_optimizer"] == "rmsprop")]
    assert len(both) >= 1  # the search has such trials: an empty table could not pass what follows
    assert column(page, "trial_id") == list(both["trial_id"])  # those, every one, in the table's order
    assert set(column(page, "status")) == {"FAILED"}
    assert set(column(page, "optimizer")) == {"rmsprop"}
    assert shown(page) == f"rows 1\u2013{len(both)} of {len(both)} (filtered from {TRIALS})"
    page.fill("#trials-filter", "no such text")
    assert page.eval_on_selector_all("#trials tbody tr", "rows => rows.length") == 0
    assert shown(page).startswith("no rows")


def run_cell(page, trial_id: str) -> dict:
    page.fill("#trials-filter", f"{trial_id}")
    return page.evaluate(
        """trial => {
          const row = Array.from(document.querySelectorAll('#trials tbody tr'))
            .find(tr => tr.cells[0].dataset.value === trial);
          const cell = row.cells[row.cells.length - 1], link = cell.querySelector('a');
          const links = cell.querySelectorAll('a').length;
          return {text: cell.textContent, href: link && link.getAttribute('href'), links: links};
        }""",
        trial_id,
    )


def test_run_links(page):
    assert run_cell(page, "0001") == {"text": "bench000-0001", "href": URL, "links": 1}
    assert run_cell(page, "0002") == {"text": "bench000-0002", "href": Path(RUN_DIR).as_uri(), "links": 1}
    assert Path(RUN_DIR).as_uri().startswith("file:///")
    assert run_cell(page, "0003") == {"text": "bench000-evil", "href": None, "links": 0}  # a javascript: URL
    assert run_cell(page, "0010") == {"text": "bench000-0010", "href": None, "links": 0}  # neither URL nor folder


def test_the_script_makes_links_of_http_https_and_file_urls_only(browser, tmp_path):
    hrefs = ["https://wandb.ai/a", "http://localhost:8080/b", "file:///runs/c", EVIL, " JavaScript:alert(1)",
             "data:text/html,<script>window.__pwned=5</script>", "//evil.example/d", "relative/e"]
    payload = {"columns": ["trial_id", "W&B run"], "status": None, "page_size": 100,
               "rows": [[str(i), f"run-{i}", href] for i, href in enumerate(hrefs)]}
    path = tmp_path / "table.html"
    path.write_text(f"<!DOCTYPE html><meta charset='utf-8'>{table_html(payload)}<script>{TABLE_SCRIPT}</script>")
    page = browser.new_page()
    page.goto(path.as_uri())
    links = page.eval_on_selector_all("#trials a", "links => links.map(a => a.getAttribute('href'))")
    texts = page.eval_on_selector_all("#trials tbody tr", "rows => rows.map(tr => tr.cells[1].textContent)")
    pwned = page.evaluate("window.__pwned")
    page.close()
    assert links == hrefs[:3]
    assert texts == [f"run-{i}" for i in range(len(hrefs))]
    assert pwned is None


def test_injected_values_are_shown_as_text_and_run_nothing(page, search):
    text = search[0].read_text()
    assert "<img src=x" not in text and "</script><script>window" not in text
    page.fill("#trials-filter", "window.__pwned")
    cells = page.eval_on_selector_all("#trials tbody td", "cells => cells.map(td => td.textContent)")
    assert INJECTED[0] in cells  # a run id
    assert INJECTED[1] in cells  # a hyperparameter's value
    assert f"ValueError: {INJECTED[1]}" in cells  # an error message
    assert page.eval_on_selector_all("#trials img, #trials script", "nodes => nodes.length") == 0
    page.click("#trials th >> text='error'")  # drawn again; the fixture asserts window.__pwned stayed undefined
    assert page.eval_on_selector_all("#trials tbody tr", "rows => rows.length") == 3


def test_the_learning_curves_of_the_best_50_and_a_random_50(page, search):
    frame = search[1]
    curves = page.evaluate(
        """() => {
          const chart = document.getElementById('curves');
          return {title: chart.layout.title.text,
                  traces: chart._fullData.map(t => ({name: t.name, dash: t.line.dash}))};
        }"""
    )
    assert curves["title"] == f"Learning curves: val_accuracy \u2014 the best 50 and a random 50 of {TRIALS} trials"
    assert len(curves["traces"]) == 100
    names = {t["name"].split()[1] for t in curves["traces"]}
    best = frame.nlargest(50, "score")["trial_id"]
    assert set(best) <= names
    pruned = [t for t in curves["traces"] if t["name"].endswith("(pruned)")]
    assert pruned and all(t["dash"] == "dash" for t in pruned)
    assert all(t["dash"] == "solid" for t in curves["traces"] if t not in pruned)


def test_curve_sample():
    ids = [f"{i:03d}" for i in range(300)]
    scores = pd.Series(range(300), index=ids, dtype=float)
    assert curve_sample(ids[:100], scores, "max") == (ids[:100], "")
    drawn, note = curve_sample(ids, scores, "min")
    assert set(ids[:50]) <= set(drawn) and len(drawn) == 100 and drawn == sorted(drawn)
    assert note == "the best 50 and a random 50 of 300 trials"
    assert curve_sample(ids, scores, "min") == (drawn, note)  # seeded
    assert set(curve_sample(ids, scores, "max")[0]) >= set(ids[250:])
    unscored = pd.Series(float("nan"), index=ids)
    assert curve_sample(ids, unscored, "max")[1] == "the best 0 and a random 100 of 300 trials"


def test_script_json_cannot_close_the_script():
    text = script_json({"a": "</script><!-- & >", "b": float(1)})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!-- & >", "b": 1.0}
    with pytest.raises(ValueError):
        script_json(float("nan"))
