"""The report's charts as HTML: drawn in Chromium by `test_report.py`; here, what the page is given."""

from __future__ import annotations

import json
import re

from kt_wandb.analysis._charts import charts_html

FIGURE = {"data": [{"type": "scatter", "x": [1.0, float("nan")], "text": ["</script><script>window.x=1</script>"]}],
          "layout": {"height": 321}}


def test_a_chart_waits_as_tall_as_it_will_be_with_its_figure_beside_it():
    text = charts_html([("one", FIGURE), ("two", {"data": [], "layout": {}})])
    assert re.findall(r'<div id="(\w+)" class="kt-chart" style="min-height:(\d+)px">', text) == [
        ("one", "321"), ("two", "450")]  # plotly's default height where the layout has none
    assert text.count("</script>") == 2  # no value can end its figure's script element
    figure = json.loads(re.search(r'id="one-figure">(.*?)</script>', text, flags=re.S).group(1))
    assert figure["data"][0]["text"] == FIGURE["data"][0]["text"] and figure["data"][0]["x"] == [1.0, None]
