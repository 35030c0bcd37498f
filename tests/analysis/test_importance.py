"""Parameter importance on a synthetic search where the answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kt_wandb.analysis import design_matrix, parameter_importance


def synthetic(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    driver = rng.uniform(0, 1, n)
    return pd.DataFrame(
        {
            "trial_id": [f"{i:03d}" for i in range(n)],
            "param_driver": driver,
            "param_noise": rng.uniform(0, 1, n),
            "param_optimizer": rng.choice(["adam", "sgd"], n),
            "score": 3 * driver + rng.normal(0, 0.05, n),
        }
    )


def test_the_driver_comes_out_clearly_on_top():
    result = parameter_importance(synthetic())
    by_name = result.set_index("parameter")
    assert result.parameter[0] == "driver"
    assert by_name.importance["driver"] > 0.9
    assert by_name.importance["driver"] > 20 * by_name.importance.drop("driver").max()
    assert by_name.correlation["driver"] > 0.99
    assert abs(by_name.correlation["noise"]) < 0.2
    assert by_name.importance.sum() == pytest.approx(1.0)


def test_seeded_so_it_repeats():
    frame = synthetic()
    pd.testing.assert_frame_equal(parameter_importance(frame, seed=4), parameter_importance(frame, seed=4))


def test_any_oracle_seed_is_taken_a_negative_one_too():
    # KerasTuner takes any int as a seed (-1 too); scikit-learn's forest only 0 to 2**32 - 1.
    frame = synthetic()
    pd.testing.assert_frame_equal(parameter_importance(frame, seed=-1), parameter_importance(frame, seed=2**32 - 1))


def test_categories_are_one_hot_and_absent_values_filled():
    frame = pd.DataFrame(
        {"param_optimizer": ["adam", "sgd", "adam"], "param_units": [8, None, 16], "param_flag": [True, False, True]}
    )
    x = design_matrix(frame)
    assert list(x.columns) == ["optimizer=adam", "optimizer=sgd", "units", "flag"]
    assert x["optimizer=sgd"].tolist() == [0.0, 1.0, 0.0]
    assert x["units"].tolist() == [8.0, 12.0, 16.0]
    assert x["flag"].tolist() == [1.0, 0.0, 1.0]


def test_failed_trials_are_left_out_and_bad_targets_explained():
    frame = synthetic(20)
    frame.loc[:9, "score"] = np.nan
    assert not parameter_importance(frame).empty
    with pytest.raises(ValueError, match=r"Expected a target column.*received 'accuracy'.*'score'"):
        parameter_importance(frame, target="accuracy")
    frame["score"] = np.nan
    with pytest.raises(ValueError, match="at least two trials with a finite 'score', received 0"):
        parameter_importance(frame)
