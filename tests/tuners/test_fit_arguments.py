"""Fit arguments Keras accepts are accepted by the search too: NumPy scalars, SciPy sparse x (issue #24, item 6)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from kt_wandb import WandbTuner


def make(tmp_path, build, **kwargs):
    kwargs.setdefault("max_trials", 1)
    return WandbTuner(build, objective="val_accuracy", oracle="random", seed=1, wandb_mode="disabled",
                      directory=str(tmp_path / "search"), project_name="fit", **kwargs)


def completed(tuner, folds=None):
    trials = list(tuner.oracle.trials.values())
    assert [t.status for t in trials] == ["COMPLETED"] and trials[0].score is not None
    if folds is not None:
        assert len(tuner.results_frame().filter(like="fold_").filter(regex=r"^fold_\d+_score$").columns) == folds


def test_keras_itself_takes_these_arguments(digits, tiny_model):
    import keras_tuner as kt

    x, y = digits
    model = tiny_model(kt.HyperParameters())
    history = model.fit(scipy.sparse.csr_matrix(x), y, epochs=np.int64(1), validation_split=np.float32(0.25),
                        verbose=0)
    assert len(history.history["val_accuracy"]) == 1


@pytest.mark.parametrize(
    "fit",
    [
        pytest.param({"epochs": np.int64(1), "validation_split": 0.25}, id="numpy-int-epochs"),
        pytest.param({"epochs": 1, "validation_split": np.float32(0.25)}, id="numpy-float-validation-split"),
        pytest.param({"epochs": np.int32(1), "validation_split": np.float64(0.25)}, id="other-numpy-widths"),
    ],
)
def test_numpy_scalars_are_taken_as_keras_takes_them(tmp_path, digits, tiny_model, fit):
    tuner = make(tmp_path, tiny_model)
    tuner.search(*digits, verbose=0, **fit)
    completed(tuner)


def test_a_scipy_sparse_x(tmp_path, digits, tiny_model):
    x, y = digits
    tuner = make(tmp_path, tiny_model)
    tuner.search(scipy.sparse.csr_matrix(x), y, epochs=1, validation_split=0.25, verbose=0)
    completed(tuner)


def test_cross_validation_with_a_numpy_fold_count_and_with_a_sparse_x(tmp_path, digits, tiny_model):
    x, y = digits
    tuner = make(tmp_path / "dense", tiny_model)
    tuner.search(x, y, cv=np.int64(3), epochs=1, verbose=0)
    completed(tuner, folds=3)
    sparse = make(tmp_path / "sparse", tiny_model)
    sparse.search(scipy.sparse.csr_matrix(x), y, cv=3, epochs=1, verbose=0)
    completed(sparse, folds=3)


@pytest.mark.parametrize(
    ("fit", "message"),
    [
        ({"epochs": np.int64(0)}, r"Expected `epochs` to be a whole number of 1 or more, received 0\. To fix, "),
        ({"epochs": np.float64(2.0)}, r"Expected `epochs` to be a whole number of 1 or more, received 2\.0\. "),
        ({"epochs": True}, r"Expected `epochs` to be a whole number of 1 or more, received True\. "),
        ({"epochs": np.bool_(True)}, r"Expected `epochs` to be a whole number of 1 or more, received True\. "),
        ({"epochs": 1, "validation_split": np.float32(1.5)},
         r"Expected `validation_split` to be a fraction from 0 up to \(not including\) 1, received 1\.5\. To fix"),
        ({"epochs": 1, "validation_split": np.bool_(True)}, r"Expected `validation_split` to be a fraction"),
        ({"epochs": 1, "validation_split": "0.2"}, r"Expected `validation_split` to be a fraction"),
        ({"epochs": 1, "cv": np.int64(1)}, r"Expected `cv` to be a whole number of folds, 2 or more, received 1\. "),
        ({"epochs": 1, "cv": np.float64(3.0)}, r"Expected `cv` to be a whole number of folds"),
    ],
)
def test_bad_values_still_get_our_error(tmp_path, digits, tiny_model, fit, message):
    tuner = make(tmp_path, tiny_model)
    with pytest.raises(ValueError, match=message):
        tuner.search(*digits, verbose=0, **fit)
    assert tuner.oracle.trials == {}


def test_a_sparse_x_and_a_y_of_another_length_get_our_error(tmp_path, digits, tiny_model):
    x, y = digits
    tuner = make(tmp_path, tiny_model)
    with pytest.raises(ValueError, match=r"received 300 examples in x and 10 in y\. To fix"):
        tuner.search(scipy.sparse.csr_matrix(x), y[:10], epochs=1, validation_split=0.25, verbose=0)
    with pytest.raises(ValueError, match=r"received 300 examples in x and 10 in y\. To fix"):
        tuner.search(scipy.sparse.csr_matrix(x), y[:10], cv=3, epochs=1, verbose=0)
    assert tuner.oracle.trials == {}
