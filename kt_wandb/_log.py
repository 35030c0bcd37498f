"""The `kt_wandb` logger: what a user must see (W&B trouble, runs kept offline and how to sync them) on stderr.

Like wandb's own `wandb:` lines, and unlike progress and summaries, which
follow `search(verbose=...)` on stdout as KerasTuner's do. Silence it with
`logging.getLogger("kt_wandb").setLevel(logging.ERROR)`, or capture it with a
handler of your own (it doesn't propagate to the root logger, so a
configured root doesn't print each line twice; set `propagate = True` to
send it there instead).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["logger"]


class _StderrHandler(logging.StreamHandler):
    """Writes to `sys.stderr` as it is at each line (a notebook's, a test's capture), not as it was at import."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


logger = logging.getLogger("kt_wandb")
if not logger.handlers:
    _handler = _StderrHandler()
    _handler.setFormatter(logging.Formatter("kt-wandb: %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
