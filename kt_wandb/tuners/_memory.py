"""Giving back what a trial's models leave in the backend's global state once the trial is over.

Under TensorFlow, Keras's optimizer sums gradients through
`tf.distribute`'s `all_reduce`, a `tf.custom_gradient` that, traced in a
`tf.function`, registers its gradient in TensorFlow's global gradient
registry under a fresh name (`CustomGradient-<n>`) and never removes it. The
registered function holds the whole traced train step, so every model trained
keeps about 4 MB alive for the life of the process, whatever
`keras.backend.clear_session()` and `gc.collect()` do. The names are unique to
their trace and looked up only while it is traced, so the ones a trial added
are dropped when it ends.

Under JAX, compiled steps stay in JAX's caches after their model is gone;
`jax.clear_caches()` empties them every `jax_every` trials (emptying them
after each trial also drops what every trial shares, which then compiles
again: about 2 s a trial on a 2-core CPU).

And the garbage collector: KerasTuner runs a full `gc.collect()` before every
trial's model (two, with Keras's `clear_session`), which walks every object of
the process; `frozen_heap` keeps what existed before the search out of them.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

__all__ = ["TrialMemory", "frozen_heap"]

_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _tf_gradient_registry() -> dict[str, Any] | None:
    try:
        from tensorflow.python.framework import ops

        registry = ops.gradient_registry._registry
    except (ImportError, AttributeError):  # another TensorFlow: leave it as it is
        return None
    return registry if isinstance(registry, dict) else None


class TrialMemory:
    """Notes the backend's global state as a trial begins, and gives back what the trial added when it ends.

    Args:
        backend: Keras's backend name ("tensorflow", "jax", "torch", ...).
        jax_every: Under JAX, empty its caches after this many trials.

    Example:
        >>> import keras, numpy as np
        >>> from kt_wandb.tuners import TrialMemory
        >>> memory = TrialMemory(keras.backend.backend())
        >>> for units in (4, 8):
        ...     memory.begin()
        ...     model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(units), keras.layers.Dense(1)])
        ...     model.compile("adam", "mse")
        ...     _ = model.fit(np.ones((8, 3)), np.ones(8), epochs=1, verbose=0)
        ...     del model
        ...     dropped = memory.release()
        >>> dropped > 0 if keras.backend.backend() == "tensorflow" else True
        True
    """

    def __init__(self, backend: str, *, jax_every: int = 10) -> None:
        self.backend = backend
        self.jax_every = jax_every
        self._trials = 0
        self._gradients_before: set[str] | None = None

    def begin(self) -> None:
        if self.backend == "tensorflow":
            registry = _tf_gradient_registry()
            self._gradients_before = set(registry) if registry is not None else None

    def release(self) -> int:
        """Drops what the trial left behind; returns how many registry entries went (TensorFlow)."""
        self._trials += 1
        if self.backend == "jax":
            if self._trials % self.jax_every == 0:
                import jax

                jax.clear_caches()
            return 0
        registry = _tf_gradient_registry()
        if registry is None or self._gradients_before is None:
            return 0
        added = [k for k in set(registry) - self._gradients_before if k.startswith(_CUSTOM_GRADIENT_PREFIX)]
        for key in added:
            registry.pop(key, None)
        self._gradients_before = None
        return len(added)


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
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

    Example:
        >>> import gc
        >>> from kt_wandb.tuners import frozen_heap
        >>> with frozen_heap():
        ...     frozen = gc.get_freeze_count()
        >>> frozen > 0, gc.get_freeze_count()
        (True, 0)
    """
    if not gc.isenabled() or gc.get_freeze_count() > 0:
        yield
        return
    gc.collect()  # what is garbage already goes now, not at the search's end
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
