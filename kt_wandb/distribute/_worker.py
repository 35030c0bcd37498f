"""A worker's side: its heartbeat to the chief while it runs a trial."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["Heartbeat"]


class Heartbeat:
    """A worker's pulse to the chief while it runs a trial, from a thread of its own.

    Training holds no lock this thread needs, so a worker that is alive keeps
    beating through long epochs and compilations.

    Args:
        oracle: The worker's `OracleClient`.
        interval: Seconds between beats.
    """

    def __init__(self, oracle: Any, interval: float) -> None:
        self.oracle = oracle
        self.interval = interval
        self.trial_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="kt-wandb-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            trial_id = self.trial_id
            if trial_id is None:
                continue
            try:
                self.oracle.get_trial(trial_id)
            except Exception:  # the chief gone: the search loop itself will say so
                continue

    def stop(self) -> None:
        self._stop.set()
