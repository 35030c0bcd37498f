"""The example hypermodels build, train and tune what they say they tune."""

from __future__ import annotations

import keras_tuner as kt
import numpy as np
import pytest

from kt_wandb.models import HYPERMODELS, CNNHyperModel, MLPHyperModel


@pytest.mark.parametrize(("name", "shape"), [("mlp", (64,)), ("cnn", (8, 8, 1))])
def test_builds_and_fits_on_digits(name, shape, digits):
    x, y = digits
    hp = kt.HyperParameters()
    model = HYPERMODELS[name](shape, 10).build(hp)
    history = model.fit(x[:64].reshape((-1, *shape)), y[:64], epochs=1, verbose=0)
    assert model.output_shape == (None, 10)
    assert np.isfinite(history.history["loss"][0])
    assert "learning_rate" in hp.values and "dropout" in hp.values


def test_mlp_depth_follows_its_hyperparameter():
    hp = kt.HyperParameters()
    hp.Fixed("num_layers", 3)
    hp.Fixed("dropout", 0.0)
    model = MLPHyperModel((64,), 10).build(hp)
    assert sum(layer.__class__.__name__ == "Dense" for layer in model.layers) == 4
    assert {"units_0", "units_1", "units_2"} <= set(hp.values)


def test_cnn_refuses_flat_features_and_says_how_to_reshape():
    with pytest.raises(ValueError, match=r"Expected an image shape.*received \(64,\).*reshape"):
        CNNHyperModel((64,), 10)


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="at least 2 classes"):
        MLPHyperModel((4,), 1)
