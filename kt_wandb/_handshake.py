"""What `kt-wandb launch` and a distributed `WandbTuner` tell each other: plain values, no imports.

The launcher gives the chief the number of workers; the chief says when it
serves the oracle. Kept apart so that the launcher imports no Keras.
"""

from __future__ import annotations

__all__ = ["SERVING_LINE", "WORKERS_ENV"]

# How many workers the chief waits for (each told the search is over) before it ends.
WORKERS_ENV = "KT_WANDB_WORKERS"

# The start of the line a chief prints once it serves the oracle.
SERVING_LINE = "kt-wandb: chief serving the oracle on "
