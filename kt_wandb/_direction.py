"""Which way an objective is better, decided in one place: every "best" kt-wandb picks goes through `Direction`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

__all__ = ["Direction"]

T = TypeVar("T")


class Direction:
    """An objective's direction: "max" (higher is better) or "min" (lower is better).

    Args:
        name: "max" or "min", as KerasTuner's `Objective.direction` says it.

    Examples:
        >>> from kt_wandb._direction import Direction
        >>> loss = Direction("min")
        >>> loss.better(0.1, 0.2), loss.best([0.3, 0.1, 0.2]), loss.text
        (True, 0.1, 'lower is better')
    """

    def __init__(self, name: str) -> None:
        if name not in ("max", "min"):
            raise ValueError(f'Expected an objective\'s direction, "max" or "min", received {name!r}. To fix, '
                             f'pass "max" for a score to maximise or "min" for a loss.')
        self.name = name
        self.maximise = name == "max"

    def better(self, a: float, b: float) -> bool:
        """Whether `a` is strictly better than `b`."""
        return a > b if self.maximise else a < b

    def best(self, values: Iterable[T], key: Callable[[T], Any] | None = None) -> T:
        """The best of `values` (by `key`); the first of equals."""
        pick = max if self.maximise else min
        return pick(values, key=key) if key is not None else pick(values)  # type: ignore[type-var]

    def best_label(self, series: Any) -> Any:
        """The index label of a pandas Series' best value."""
        return series.idxmax() if self.maximise else series.idxmin()

    def best_so_far(self, series: Any) -> Any:
        """A pandas Series' running best."""
        return series.cummax() if self.maximise else series.cummin()

    def top(self, series: Any, count: int) -> Any:
        """A pandas Series' `count` best values, best first."""
        return series.nlargest(count) if self.maximise else series.nsmallest(count)

    @property
    def word(self) -> str:
        """ "higher" or "lower": which values are better."""
        return "higher" if self.maximise else "lower"

    @property
    def text(self) -> str:
        """ "higher is better" or "lower is better"."""
        return f"{self.word} is better"

    @property
    def verb(self) -> str:
        """ "maximised" or "minimised"."""
        return "maximised" if self.maximise else "minimised"
