"""Keeping the objects a process already holds out of the garbage collector's passes."""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Iterator, Mapping

__all__ = ["FREEZE_ENV", "freeze_wanted", "frozen_heap", "paused_collector"]

FREEZE_ENV = "KT_WANDB_FREEZE_HEAP"
_OFF = ("0", "false", "no", "off")
_ON = ("", "1", "true", "yes", "on")

_depth = 0  # the frozen_heap blocks open in this process (the outermost decides)
_pausing = threading.Lock()
_paused = 0  # the paused_collector blocks open in this process, in any thread
_paused_here = False  # whether the first of them turned the collector off (and so the last turns it on)


def freeze_wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether `frozen_heap` freezes: not where `KT_WANDB_FREEZE_HEAP` is 0 (or false, no, off).

    Raises:
        ValueError: For any other value than those, 1 (true, yes, on) and none.
    """
    env = os.environ if environ is None else environ
    text = env.get(FREEZE_ENV, "").strip().lower()
    if text in _ON:
        return True
    if text in _OFF:
        return False
    raise ValueError(
        f"Expected {FREEZE_ENV} to be 0 or 1, received {env[FREEZE_ENV]!r}. To fix, set it to 0 to leave the "
        f"heap unfrozen during a search (memory-debugging tools then see every object), or unset it."
    )


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

    While frozen, those objects are hidden from `gc.get_objects()` and
    `gc.get_referrers()`, which memory-debugging tools (objgraph, ...) rely on.
    The environment variable `KT_WANDB_FREEZE_HEAP=0` leaves the heap as it is
    (KerasTuner's passes then walk all of it again, 0.4 s a trial).

    Freezing sets the collector's counts back to 0, those that decide when a
    full pass comes, and `gc.unfreeze()` puts everything back into the oldest
    generation: right once for a search, wrong for many short blocks (the
    analysis, called in a loop, would see no full pass any more, and what
    became garbage before each call would wait for one), which pause the
    collector instead (`paused_collector`). The young generations are collected
    before freezing, whatever `collect`, so that no young garbage is moved.

    Args:
        collect: Collect all the garbage there is before freezing (else the young generations' only).

    Examples:
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
    if _depth > 0 or not gc.isenabled() or not freeze_wanted():
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

    Examples:
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
