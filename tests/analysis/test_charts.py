"""The report's charts as HTML: drawn in Chromium by `test_report.py`; here, what the page is given."""

from __future__ import annotations

import json
import re

from kt_wandb.analysis._charts import charts_html
from tests.analysis import test_report
from tests.analysis.test_report import DRAWN

FIGURE = {"data": [{"type": "scatter", "x": [1.0, float("nan")], "text": ["</script><script>window.x=1</script>"]}],
          "layout": {"height": 321}}

browser = test_report.browser  # one Chromium for the module (a fixture)


def test_a_chart_waits_as_tall_as_it_will_be_with_its_figure_beside_it():
    text = charts_html([("one", FIGURE), ("two", {"data": [], "layout": {}})])
    assert re.findall(r'<div id="(\w+)" class="kt-chart" style="min-height:(\d+)px">', text) == [
        ("one", "321"), ("two", "450")]  # plotly's default height where the layout has none
    assert text.count("</script>") == 2  # no value can end its figure's script element
    figure = json.loads(re.search(r'id="one-figure">(.*?)</script>', text, flags=re.S).group(1))
    assert figure["data"][0]["text"] == FIGURE["data"][0]["text"] and figure["data"][0]["x"] == [1.0, None]


def test_a_chart_that_cannot_be_drawn_says_so_and_leaves_the_others_drawn(tmp_path, browser):
    from kt_wandb.analysis._charts import CHARTS_SCRIPT, plotly_script

    small = {"data": [{"type": "bar", "x": ["a"], "y": [1]}], "layout": {"height": 200}}
    charts = charts_html([("broken", small), ("fine", small)])
    broken = re.sub(r'(id="broken-figure">).*?(</script>)', r"\1{not json\2", charts, flags=re.S)
    page_path = tmp_path / "page.html"
    page_path.write_text(f"<!DOCTYPE html><html><body>{broken}{plotly_script()}<script>{CHARTS_SCRIPT}</script>"
                         "</body></html>")
    page = browser.new_page(viewport={"width": 800, "height": 800})
    page.goto(page_path.as_uri())
    page.wait_for_function(DRAWN, arg="fine")
    assert page.text_content("#broken").startswith("This chart could not be drawn: SyntaxError")
