"""Parameter importance, computed the way W&B's parameter-importance panel computes it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kt_wandb._heap import paused_collector

__all__ = ["design_matrix", "parameter_importance"]


def design_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """The hyperparameters as model inputs: numbers as they are, categories one-hot.

    Every `param_<name>` column becomes one input named `<name>` (numbers and
    booleans) or one input per value named `<name>=<value>` (categories), as
    W&B's panel lists them. A conditional hyperparameter's missing values are
    filled with its median, which a tree can still split on.
    """
    columns: dict[str, pd.Series] = {}
    for column in (c for c in frame.columns if c.startswith("param_")):
        name = column[len("param_") :]
        values = frame[column]
        numeric = pd.to_numeric(values.map(lambda v: float(v) if isinstance(v, bool) else v), errors="coerce")
        if numeric.notna().sum() == values.notna().sum():
            columns[name] = numeric.fillna(numeric.median() if numeric.notna().any() else 0.0)
        else:
            for value in sorted(values.dropna().astype(str).unique()):
                columns[f"{name}={value}"] = (values.astype(str) == value).astype(float)
    return pd.DataFrame(columns, index=frame.index)


_TREE_SAMPLE = 2000
_PARALLEL_FROM = 500


@paused_collector()  # no pass over the whole heap in mid-call: kt_wandb._heap
def _finite_target(frame: pd.DataFrame, target: str) -> np.ndarray:
    """The trials with a finite `target`, as a mask; refused where the column is unknown or fewer than two have it."""
    if target not in frame.columns:
        raise ValueError(
            f"Expected a target column of the results table, received {target!r}. To fix, pass "
            f"one of {[c for c in frame.columns if c == 'score' or c.startswith(('metric_', 'best_'))]}."
        )
    keep = np.isfinite(pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=float))
    if keep.sum() < 2:
        raise ValueError(
            f"Expected at least two trials with a finite {target!r}, received {int(keep.sum())}. "
            f"To fix, let the search complete more trials."
        )
    return keep


def parameter_importance(
    frame: pd.DataFrame,
    target: str = "score",
    *,
    seed: int = 0,
    n_estimators: int = 100,
) -> pd.DataFrame:
    """Each hyperparameter's importance for `target`, and its correlation with it.

    Mirrors W&B's parameter-importance panel: a random forest regressor is
    trained with the hyperparameters as inputs (categories one-hot encoded,
    see `design_matrix`) and the target metric as output, over the trials that
    have a finite target (above 2,000 trials, each tree on a bootstrap sample
    of 2,000 of them); a hyperparameter's importance is the forest's
    (impurity-based) feature importance, and its correlation is the Pearson
    correlation between it and the target. The forest is seeded, so the result
    repeats.

    Args:
        frame: A results table, as `results_frame` makes it.
        target: The column to explain: "score" (the objective), or any
            `metric_<name>` / `best_<name>` column.
        seed: The forest's random state.
        n_estimators: The forest's number of trees.

    Returns:
        Columns `parameter`, `importance` (summing to 1), `correlation` (NaN
        where a parameter does not vary), sorted by importance.

    Raises:
        ValueError: For an unknown target, or fewer than two trials with a
            finite target.
    """
    from sklearn.ensemble import RandomForestRegressor

    keep = _finite_target(frame, target)
    x = design_matrix(frame[keep])
    y = pd.to_numeric(frame[target], errors="coerce")[keep]
    if x.empty:
        return pd.DataFrame(columns=["parameter", "importance", "correlation"])
    # Past a few thousand trials each tree learns from a bootstrap sample of 2,000: as good an estimate, in a
    # fraction of the time (10,000 trials: 0.4 s instead of 1.9 s on 2 cores). From 500 trials the trees grow
    # on every core (1,000 trials: 0.16 s instead of 0.24 s on 2; the same trees, as each has its own seed).
    large = len(y) > _TREE_SAMPLE
    forest = RandomForestRegressor(n_estimators=n_estimators, random_state=seed % 2**32,
                                   max_samples=_TREE_SAMPLE if large else None,
                                   n_jobs=-1 if len(y) >= _PARALLEL_FROM else None)
    forest.fit(x.to_numpy(), y.to_numpy())
    correlation = [
        float(np.corrcoef(x[name], y)[0, 1]) if x[name].std() > 0 and y.std() > 0 else float("nan")
        for name in x.columns
    ]
    result = pd.DataFrame(
        {"parameter": x.columns, "importance": forest.feature_importances_, "correlation": correlation}
    )
    return result.sort_values("importance", ascending=False, ignore_index=True)
