"""An MLP hypermodel for flat features."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import keras_tuner as kt

from kt_wandb.models._common import ClassifierHyperModel

__all__ = ["MLPHyperModel"]


class MLPHyperModel(ClassifierHyperModel):
    """A multi-layer perceptron classifier.

    Tunes `num_layers` (1–3), `units_<i>` for each layer (32–256, step 32;
    conditional on `num_layers`), `activation`
    (relu, tanh), `dropout` (0–0.5, step 0.1) and `learning_rate`
    (1e-4–1e-2, log-sampled).

    Args:
        input_shape: The shape of one example; it is flattened first.
        num_classes: How many classes the labels (integers from 0) have.

    Examples:
        >>> import keras_tuner as kt
        >>> from kt_wandb.models import MLPHyperModel
        >>> model = MLPHyperModel((64,), 10).build(kt.HyperParameters())
        >>> model.output_shape
        (None, 10)
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int) -> None:
        super().__init__(input_shape, num_classes, name="mlp")

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        layers: list[keras.layers.Layer] = [keras.Input(self.input_shape), keras.layers.Flatten()]
        activation = hp.Choice("activation", ["relu", "tanh"])
        dropout = hp.Float("dropout", 0.0, 0.5, step=0.1)
        num_layers = hp.Int("num_layers", 1, 3)
        for i in range(num_layers):
            # Layer i's width only exists in trials deep enough to have layer i.
            with hp.conditional_scope("num_layers", list(range(i + 1, 4))):
                units = hp.Int(f"units_{i}", 32, 256, step=32)
            layers.append(keras.layers.Dense(units, activation=activation))
            if dropout > 0:
                layers.append(keras.layers.Dropout(dropout))
        layers.append(keras.layers.Dense(self.num_classes, activation="softmax"))
        return self.compile(hp, keras.Sequential(layers, name="mlp"))
