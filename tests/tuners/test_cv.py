"""k-fold cross-validation per trial, read back from the W&B run."""

from __future__ import annotations

import numpy as np
import pytest

from kt_wandb import WandbTuner
from tests.helpers.wandb_log import read_runs


def make(tmp_path, build, **kwargs):
    kwargs.setdefault("oracle", "random")
    kwargs.setdefault("max_trials", 2)
    return WandbTuner(build, objective="val_accuracy", seed=7, directory=str(tmp_path), project_name="cv", **kwargs)


def test_the_objective_is_the_mean_of_three_fold_scores_read_from_the_run(tmp_path, wandb_env, digits, tiny_model):
    tuner = make(tmp_path, tiny_model)
    tuner.search(*digits, cv=3, epochs=2, verbose=0)
    runs = read_runs(wandb_env)
    frame = tuner.results_frame()
    for trial in tuner.oracle.trials.values():
        run = runs[f"{tuner.search_id}-{trial.trial_id}"]
        folds = [run.summary[f"fold_{i}/val_accuracy"] for i in range(3)]
        # Each fold's own curve, told apart by its keys, and its best epoch is its score.
        for i, score in enumerate(folds):
            curve = [row[f"fold_{i}/val_accuracy"] for row in run.history if f"fold_{i}/val_accuracy" in row]
            assert len(curve) == 2 and max(curve) == pytest.approx(score)
        assert trial.score == pytest.approx(np.mean(folds))
        assert run.summary["val_accuracy"] == pytest.approx(np.mean(folds))
        assert run.summary["cv/val_accuracy_std"] == pytest.approx(np.std(folds))
        assert run.summary["cv/folds"] == 3
        row = frame.set_index("trial_id").loc[trial.trial_id]
        assert [row[f"fold_{i}_score"] for i in range(3)] == pytest.approx(folds)
        assert row["fold_std_score"] == pytest.approx(np.std(folds))


def test_folds_are_stratified_and_seeded(tmp_path, digits, tiny_model):
    from kt_wandb.tuners._cv import plan_cross_validation

    tuner = make(tmp_path, tiny_model, wandb_mode="disabled")
    x, y = digits
    plan, args, kwargs = plan_cross_validation(5, (x, y), {"epochs": 1}, oracle=tuner.oracle,
                                               executions_per_trial=1, seed=7)
    again, _, _ = plan_cross_validation(5, (x, y), {}, oracle=tuner.oracle, executions_per_trial=1, seed=7)
    other, _, _ = plan_cross_validation(5, (x, y), {}, oracle=tuner.oracle, executions_per_trial=1, seed=8)
    # Shuffled with the seed: another seed gives other folds (unshuffled folds would not depend on it).
    assert any(set(v) != set(w) for (_, v), (_, w) in zip(plan.folds, other.folds, strict=True))
    assert plan.stratified and args == () and kwargs == {"epochs": 1}
    validation = np.concatenate([v for _, v in plan.folds])
    assert sorted(validation) == list(range(len(x)))  # every example validates exactly once
    for (train, val), (train2, _) in zip(plan.folds, again.folds, strict=True):
        np.testing.assert_array_equal(train, train2)
        counts = np.bincount(y[val], minlength=10) / len(val)
        assert np.abs(counts - np.bincount(y, minlength=10) / len(y)).max() < 0.05


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t, x, y: t.search(x, y, cv=1), r"Expected `cv` to be a whole number of folds, 2 or more, received 1"),
        (lambda t, x, y: t.search(x, y, cv=3, validation_split=0.2), r"received \['validation_split'\]"),
        (lambda t, x, y: t.search(x, y[:-1], cv=3), r"received 300 examples in x and 299 in y"),
        (lambda t, x, y: t.search(x[:10], y[:10], cv=20), r"at most as many folds as examples"),
        (lambda t, x, y: t.search(x, y, cv=40), r"every class to have at least cv=40 examples"),
        (lambda t, x, y: t.search(iter([(x, y)]), cv=3), r"Expected arrays x and y with `cv`"),
    ],
)
def test_bad_cv_requests_are_refused_before_any_training(tmp_path, digits, tiny_model, call, message):
    tuner = make(tmp_path, tiny_model, wandb_mode="disabled")
    with pytest.raises(ValueError, match=message):
        call(tuner, *digits)
    assert tuner.oracle.trials == {}  # no trial started


def test_hyperband_with_cv_is_refused_with_its_reason(tmp_path, digits, tiny_model):
    tuner = make(tmp_path, tiny_model, oracle="hyperband", max_trials=None, max_epochs=2, wandb_mode="disabled")
    with pytest.raises(ValueError, match="continues a trial from its parent's single best model"):
        tuner.search(*digits, cv=3)
