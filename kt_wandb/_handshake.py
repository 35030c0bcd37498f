"""What `kt-wandb launch` and a distributed `WandbTuner` tell each other: plain values, no imports.

The launcher gives the chief the number of workers and every process the
search's token; the chief says when it serves the oracle (and answers on its
port), and which workers it dropped as silent. Kept apart so that the launcher
imports no Keras.
"""

from __future__ import annotations

import socket

__all__ = ["DROPPED_LINE", "SERVING_LINE", "TOKEN_ENV", "WORKERS_ENV", "answers"]

# How many workers the chief waits for (each told the search is over) before it ends.
WORKERS_ENV = "KT_WANDB_WORKERS"

# The secret every request to the chief carries: the chief answers no other.
TOKEN_ENV = "KT_WANDB_TOKEN"

# The start of the line a chief prints once it serves the oracle.
SERVING_LINE = "kt-wandb: chief serving the oracle on "
# The start of the line a chief prints when it drops a silent worker; the worker's id follows, then ": ".
DROPPED_LINE = "kt-wandb: chief dropped silent worker "


def answers(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something accepts connections on host:port (the chief's oracle, once it serves)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
