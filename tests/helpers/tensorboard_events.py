"""Reads back what TensorBoard's writers wrote, with TensorBoard's own reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def accumulate(path: Path) -> Any:
    """TensorBoard's accumulator over one run folder's event files, loaded."""
    from tensorboard.backend.event_processing import plugin_event_accumulator

    accumulator = plugin_event_accumulator.EventAccumulator(str(path), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def scalars(accumulator: Any, tag: str) -> list[tuple[int, float]]:
    """A scalar tag's (step, value) pairs."""
    from tensorboard.util import tensor_util

    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in accumulator.Tensors(tag)]
