"""Keeping the objects a process already holds out of the garbage collector's passes."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["frozen_heap", "paused_collector"]

_depth = 0  # the frozen_heap blocks open in this process (the outermost decides)
_pausing = threading.Lock()
_paused = 0  # the paused_collector blocks open in this process, in any thread
_paused_here = False  # whether the first of them turned the collector off (and so the last turns it on)


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

    Freezing sets the collector's counts back to 0, those that decide when a
    full pass comes, and `gc.unfreeze()` puts everything back into the oldest
    generation: right once for a search, wrong for many short blocks (the
    analysis, called in a loop, would see no full pass any more, and what
    became garbage before each call would wait for one), which pause the
    collector instead (`paused_collector`). The young generations are collected
    before freezing, whatever `collect`, so that no young garbage is moved.

    Args:
        collect: Collect all the garbage there is before freezing (else the young generations' only).

    Example:
        >>> import gc
        >>> from kt_wandb.tuners import frozen_heap
        >>> with frozen_heap():
        ...     frozen = gc.get_freeze_count()
        >>> frozen > 0, gc.get_freeze_count()
        (True, 0)
    """
    global _depth
    # Within one already: nothing to do. `get_freeze_count` walks every frozen object, 13 ms with TensorFlow
    # imported, so it is asked only by the outermost.
    if _depth > 0 or not gc.isenabled():
        yield
        return
    _depth += 1
    try:
        if gc.get_freeze_count() > 0:  # the program froze objects itself: left as they are
            yield
            return
        # What is garbage already goes now, not when the block ends (collect) or at the next full pass after it
        # (young garbage frozen, then unfrozen into the oldest generation).
        gc.collect(2 if collect else 1)
        try:
            gc.freeze()
            yield
        finally:
            gc.unfreeze()  # nothing was frozen before: this gives back only what this block froze
    finally:
        _depth -= 1


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """For the while of one analysis call, no pass of the collector: none over TensorFlow's heap in mid-call.

    The analysis (`results_frame`, `learning_curves`, `parameter_importance`,
    `write_report`) reads a search's records into many small objects, and a
    full pass the collector starts in the middle of that walks every object of
    the process: 0.1 to 0.3 s with TensorFlow imported, for a report that takes
    0.4 s. The young generations are collected first (what became garbage
    before the call goes now, and the survivors move on as the collector's own
    passes move them); then the collector is off until the call returns, its
    generations and counts kept as they are, so the passes after the call,
    full ones included, come as they would have. Nested blocks, and blocks in
    several threads at once, turn it back on when the last one ends. Left alone
    where the program turned the collector off itself.

    Example:
        >>> import gc
        >>> from kt_wandb._heap import paused_collector
        >>> with paused_collector():
        ...     paused = not gc.isenabled()
        >>> paused, gc.isenabled()
        (True, True)
    """
    global _paused, _paused_here
    with _pausing:
        if _paused == 0:
            _paused_here = gc.isenabled()
            if _paused_here:
                gc.collect(1)
                gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _pausing:
            _paused -= 1
            if _paused == 0 and _paused_here:
                gc.enable()
