"""KerasTuner's hyperparameters as Optuna's distributions, and their values both ways.

Each searched hyperparameter becomes one `Dimension`: the distribution the
sampler draws from, and how a drawn value becomes KerasTuner's and back.

- `Int`, `Float` with `sampling="linear"`: Optuna's own, with KerasTuner's `step`
  (its last value is KerasTuner's last value on the grid).
- `sampling="log"` without `step`: Optuna's `log=True`. With `step` (KerasTuner's
  factor between values: 32, 64, 128 for `step=2`) the sampler draws the
  exponent, an ordered integer.
- `sampling="reverse_log"` (dense near the maximum): the sampler draws the
  mirror image, `min + max - value`, log-uniform, as KerasTuner samples it.
- `Choice` of numbers (`ordered`, KerasTuner's default for numbers): the index,
  an ordered integer, so the sampler learns that 64 lies between 32 and 128.
  Other `Choice`s and `Boolean`: categorical. `Fixed`: not searched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import keras_tuner as kt

__all__ = ["Dimension", "dimension", "searched"]

_HP = kt.engine.hyperparameters


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: Optuna's distribution, and its values to KerasTuner's (`decode`) and back."""

    distribution: Any
    decode: Callable[[Any], Any] = _same
    encode: Callable[[Any], Any] = _same


def dimension(hp: Any) -> Dimension | None:
    """The dimension of KerasTuner hyperparameter `hp`; None for a `Fixed` one (not searched)."""
    from optuna import distributions as d

    if isinstance(hp, _HP.Fixed):
        return None
    if isinstance(hp, _HP.Boolean):
        return Dimension(d.CategoricalDistribution([False, True]))
    if isinstance(hp, _HP.Choice):
        values = list(hp.values)
        if hp.ordered:
            return Dimension(d.IntDistribution(0, len(values) - 1), values.__getitem__, values.index)
        return Dimension(d.CategoricalDistribution(values))
    if isinstance(hp, (_HP.Int, _HP.Float)):
        return _numerical(hp, isinstance(hp, _HP.Int))
    raise TypeError(
        f"Expected a KerasTuner hyperparameter (Int, Float, Choice, Boolean or Fixed), received "
        f"{type(hp).__name__} {hp.name!r}. To fix, declare it with one of `hp.Int`, `hp.Float`, `hp.Choice`, "
        f"`hp.Boolean` or `hp.Fixed`."
    )


def _numerical(hp: Any, integer: bool) -> Dimension:
    from optuna import distributions as d

    low, high, step, sampling = hp.min_value, hp.max_value, hp.step, hp.sampling
    kind = d.IntDistribution if integer else d.FloatDistribution
    cast: Callable[[Any], Any] = int if integer else float
    if sampling == "linear":
        if step is None:
            return Dimension(kind(low, high))
        last = low + int((high - low) // step + 1e-9) * step
        return Dimension(kind(low, cast(last), step=step))
    mirror = sampling == "reverse_log"
    if step is None:  # log-uniform, mirrored for reverse_log
        if not mirror:
            return Dimension(kind(low, high, log=True))
        return Dimension(kind(low, high, log=True), lambda u: cast(low + high - u), lambda v: cast(low + high - v))
    count = int(math.log(high / low, step) + 1e-8) + 1  # KerasTuner's own count of values on the grid

    def value(index: int) -> Any:
        power = low * math.pow(step, index)
        return cast(low + high - power if mirror else power)

    def index(v: Any) -> int:
        return round(math.log((low + high - v if mirror else v) / low, step))

    return Dimension(d.IntDistribution(0, count - 1), value, index)


def searched(hps: kt.HyperParameters) -> Iterator[tuple[Any, Dimension]]:
    """The active, searched hyperparameters of `hps` (which has its values), each once, with their dimensions."""
    seen = set()
    for hp in hps.space:
        if hp.name in seen or hp.name not in hps.values or not hps.is_active(hp):
            continue
        seen.add(hp.name)
        dim = dimension(hp)
        if dim is not None:
            yield hp, dim
