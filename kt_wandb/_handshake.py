"""What `kt-wandb launch` and a distributed `WandbTuner` tell each other: plain values, no imports.

The launcher gives the chief the number of workers; the chief says when it
serves the oracle, and answers on its port. Kept apart so that the launcher
imports no Keras.
"""

from __future__ import annotations

import socket

__all__ = ["SERVING_LINE", "WORKERS_ENV", "answers"]

# How many workers the chief waits for (each told the search is over) before it ends.
WORKERS_ENV = "KT_WANDB_WORKERS"

# The start of the line a chief prints once it serves the oracle.
SERVING_LINE = "kt-wandb: chief serving the oracle on "


def answers(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts connections on host:port (the chief's oracle, once it serves)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
