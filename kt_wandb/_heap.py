"""Keeping the objects a process already holds out of the garbage collector's passes."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["frozen_heap"]

_depth = 0  # the frozen_heap blocks open in this process (the outermost decides)


@contextlib.contextmanager
def frozen_heap(*, collect: bool = True) -> Iterator[None]:
    """For the while of a search, leaves the objects that exist as it starts out of the collector's passes.

    KerasTuner's `_try_build` collects garbage twice before each trial's model
    (its own `gc.collect()` and Keras's `clear_session`). A full pass walks every
    object the process holds: with TensorFlow, Keras and wandb imported, about
    0.2 s a pass on a 2-core CPU, 0.4 s of every trial. `gc.freeze()` moves what
    exists as the search starts (modules, the data, the user's own objects) out
    of the collector's generations, so a pass walks only what the search made
    since, and each trial's models are collected as before. What was frozen is
    unfrozen when the search ends, also on an exception; garbage among it is
    collected then. Left alone where the program turned the collector off or
    froze objects itself.

    The analysis (`results_frame`, `learning_curves`, `parameter_importance`,
    `write_report`) freezes the heap too, with `collect=False`: one pass costs what it saves
    there, and a pass the collector starts in the middle of reading a search's
    records costs it 0.1 to 0.3 s with TensorFlow imported.

    Args:
        collect: Collect the garbage there is before freezing.

    Example:
        >>> import gc
        >>> from kt_wandb.tuners import frozen_heap
        >>> with frozen_heap():
        ...     frozen = gc.get_freeze_count()
        >>> frozen > 0, gc.get_freeze_count()
        (True, 0)
    """
    global _depth
    # Within one already (the analysis inside a search): nothing to do. `get_freeze_count` walks every frozen
    # object, 13 ms with TensorFlow imported, so it is asked only by the outermost.
    if _depth > 0 or not gc.isenabled():
        yield
        return
    _depth += 1
    try:
        if gc.get_freeze_count() > 0:  # the program froze objects itself: left as they are
            yield
            return
        if collect:
            gc.collect()  # what is garbage already goes now, not at the search's end
        try:
            gc.freeze()
            yield
        finally:
            gc.unfreeze()  # nothing was frozen before: this gives back only what this block froze
    finally:
        _depth -= 1
