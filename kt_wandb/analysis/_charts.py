"""The report's charts, each drawn when it comes into view.

Each chart is an empty `<div class="kt-chart">` as tall as the chart will be,
and its figure as JSON beside it. `CHARTS_SCRIPT` draws the charts on the
screen at once, and each other one as it comes onto the screen (or when the
page is printed); until then it reads "drawing the chart". A chart costs most
where WebGL is drawn in software (the parallel coordinates, and the scatter
charts past 1,000 trials: about a second each in headless Chromium): a page
pays only for what is looked at, and a live report, which reloads after
trials end, redraws only what is on the screen.

plotly.js goes after the page's text and table (`plotly_script()`, then
`CHARTS_SCRIPT`): they show while the browser compiles it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CHARTS_SCRIPT", "charts_html", "plotly_script"]


def charts_html(figures: list[tuple[str, dict[str, Any]]]) -> str:
    """Each `(id, figure)` as its empty chart and its figure's JSON, for `CHARTS_SCRIPT` to draw."""
    import plotly.io

    parts = []
    for name, figure in figures:
        height = int(figure.get("layout", {}).get("height") or 450)  # plotly's default
        # Plain figure dicts, not validated trace by trace: a 10,000-trial report stays fast. plotly's
        # JSON has `<`, `>` and `/` escaped, so no value can end the script element.
        text = plotly.io.to_json(figure, validate=False)
        parts.append(
            f'<div id="{name}" class="kt-chart" style="min-height:{height}px">'
            f'<p class="kt-chart-waiting">drawing the chart…</p></div>\n'
            f'<script type="application/json" id="{name}-figure">{text}</script>\n'
        )
    return "".join(parts)


def plotly_script() -> str:
    """plotly.js, inline: the report opens with no network."""
    import plotly.offline

    return f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'


CHARTS_SCRIPT = """
(function () {
  var pending = Array.prototype.slice.call(document.querySelectorAll('.kt-chart'));
  if (!window.Plotly || !pending.length) { return; }
  function draw(chart) {
    var at = pending.indexOf(chart);
    if (at < 0) { return; }
    pending.splice(at, 1);
    chart.textContent = '';
    try {  // one chart that fails leaves the others to draw
      var figure = JSON.parse(document.getElementById(chart.id + '-figure').textContent);
      window.Plotly.newPlot(chart, figure.data, figure.layout, {responsive: true});
    } catch (error) {
      chart.textContent = 'This chart could not be drawn: ' + error;
    }
  }
  function shown(chart) {
    var box = chart.getBoundingClientRect();
    return box.bottom > 0 && box.top < window.innerHeight;
  }
  pending.filter(shown).forEach(draw);
  window.addEventListener('beforeprint', function () { pending.slice().forEach(draw); });
  if (!('IntersectionObserver' in window)) { pending.slice().forEach(draw); return; }
  var watcher = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) { watcher.unobserve(entry.target); draw(entry.target); }
    });
  }, {rootMargin: '0px'});
  pending.forEach(function (chart) { watcher.observe(chart); });
})();
"""
