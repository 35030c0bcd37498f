"""A report that follows its search: the open page reloads itself when a newer report is written.

A page opened from disk (`file://`) can't read files with `fetch`, but it can
load a script beside it. Each write of a live report also writes
`<report>.stamp.js`, which sets `window.ktWandbStamp` to the stamp of the latest
report; the page loads it every few seconds and reloads itself when the stamp
differs from its own. The last write (the search has ended) writes a page
without the polling, and a new stamp, so an open page reloads once more into
the final report and then stays.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from kt_wandb._records import write_text

__all__ = ["POLL_SECONDS", "live_script", "new_stamp", "stamp_path", "waiting_page", "write_stamp"]

POLL_SECONDS = 2.0


def stamp_path(report: Path) -> Path:
    """The script beside `report` that names its latest version."""
    return report.with_name(report.name + ".stamp.js")


def new_stamp() -> str:
    """A name for one version of a report."""
    return secrets.token_hex(8)


def write_stamp(report: Path, stamp: str) -> None:
    """Names `stamp` the latest version of `report`, for the pages that poll it."""
    write_text(stamp_path(report), f"window.ktWandbStamp = {json.dumps(stamp)};\n")


def live_script(report: Path, stamp: str) -> str:
    """The page's polling script: reloads when the stamp script names another version (scroll kept)."""
    source = json.dumps(stamp_path(report).name)
    return f"""
(function () {{
  var own = {json.dumps(stamp)}, key = 'ktWandbScroll:' + location.pathname;
  var kept = sessionStorage.getItem(key);
  if (kept !== null) {{ sessionStorage.removeItem(key); window.scrollTo(0, Number(kept)); }}
  function poll() {{
    var script = document.createElement('script');
    script.src = {source} + '?' + Date.now();
    script.onload = function () {{
      script.remove();
      if (window.ktWandbStamp && window.ktWandbStamp !== own) {{
        sessionStorage.setItem(key, String(window.scrollY));
        location.reload();
      }} else {{ setTimeout(poll, {int(POLL_SECONDS * 1000)}); }}
    }};
    script.onerror = function () {{ script.remove(); setTimeout(poll, {int(POLL_SECONDS * 1000)}); }};
    document.head.appendChild(script);
  }}
  setTimeout(poll, {int(POLL_SECONDS * 1000)});
}})();
"""


def waiting_page(title: str, report: Path, stamp: str) -> str:
    """The live report before any trial has ended."""
    import html

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}: kt-wandb report</title></head>
<body style="font-family: system-ui, sans-serif; margin: 24px">
<h1>{html.escape(title)}</h1>
<p id="waiting">The search has started. This page shows its trials as they end, and reloads itself.</p>
<script>{live_script(report, stamp)}</script>
</body></html>
"""
