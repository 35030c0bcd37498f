"""The offline report written while the search runs: after trials end, within a share of the search's time."""

from __future__ import annotations

import os
import time
from pathlib import Path

from kt_wandb._log import logger

__all__ = ["LiveReport"]


class LiveReport:
    """Keeps `report.html` in the project directory up to date while a search runs.

    At the search's start it writes a page that waits for the first trial;
    after a trial ends it writes the report again, as long as the writing so far
    stays within `share` of the search's time (with a report that takes 0.5 s
    to write and a 2 % share, at most one every 25 s); at the end it writes the
    final report, which no longer reloads. An open page reloads itself when a
    newer report exists. A failure to write costs the report, never the search
    (said once).

    Args:
        project_dir: The search's project directory.
        share: The share of the search's wall time the writing may take.
        seed: The importance forest's seed.
    """

    def __init__(self, project_dir: str | os.PathLike[str], *, share: float, seed: int = 0) -> None:
        self.project_dir = Path(project_dir)
        self.path = self.project_dir / "report.html"
        self.share = share
        self.seed = seed
        self.spent = 0.0
        self.started = time.monotonic()
        self.failed = False
        self.ended = False

    def begin(self) -> None:
        """The page as the search starts: the report so far (a resumed search), or one that waits."""
        from kt_wandb.analysis._live import new_stamp, waiting_page, write_stamp

        self.started = time.monotonic()
        if any(self.project_dir.glob("trial_*/trial.json")):
            self._write(live=True)
            return
        from kt_wandb._records import write_text

        stamp = new_stamp()
        try:
            write_text(self.path, waiting_page(self.project_dir.name, self.path, stamp))
            write_stamp(self.path, stamp)
        except OSError as exc:
            self._fail(exc)

    def trial_ended(self) -> None:
        """Writes the report again where the share allows."""
        if self.spent <= self.share * (time.monotonic() - self.started):
            self._write(live=True)

    def end(self) -> None:
        """The final report: written whatever the share, without the reloading (also after an exception)."""
        self.ended = True
        self._write(live=False)

    def _write(self, *, live: bool) -> None:
        if self.failed:
            return
        from kt_wandb.analysis import write_report

        began = time.monotonic()
        try:
            write_report(self.project_dir, self.path, seed=self.seed, live=live)
        except Exception as exc:  # the search goes on; `tuner.report()` can write it later
            self._fail(exc)
        self.spent += time.monotonic() - began

    def _fail(self, exc: Exception) -> None:
        self.failed = True
        logger.warning(f"could not write the live report {self.path} ({type(exc).__name__}: {exc}); the search "
                       f"goes on, and tuner.report() writes it later.")
