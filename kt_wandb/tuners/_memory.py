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
the process; `frozen_heap` (in `kt_wandb._heap`, shared with the analysis)
keeps what existed before the search out of them.
"""

from __future__ import annotations

from typing import Any

from kt_wandb._heap import frozen_heap

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

    Examples:
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
