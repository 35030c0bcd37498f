"""A small CNN hypermodel for images."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import keras_tuner as kt

from kt_wandb.models._common import ClassifierHyperModel

__all__ = ["CNNHyperModel"]


class CNNHyperModel(ClassifierHyperModel):
    """A small convolutional classifier for images of shape (height, width, channels).

    Tunes `conv_blocks` (1–2), `filters` (16, 32, 64), `dense_units` (32–128,
    step 32), `dropout` (0–0.5, step 0.1) and `learning_rate` (1e-4–1e-2,
    log-sampled). Each block is a 3×3 convolution and a 2×2 max-pooling.

    Args:
        input_shape: The image shape, for example (8, 8, 1).
        num_classes: How many classes the labels (integers from 0) have.

    Examples:
        >>> import keras_tuner as kt
        >>> from kt_wandb.models import CNNHyperModel
        >>> model = CNNHyperModel((8, 8, 1), 10).build(kt.HyperParameters())
        >>> model.output_shape
        (None, 10)
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int) -> None:
        super().__init__(input_shape, num_classes, name="cnn")
        if len(self.input_shape) != 3:
            raise ValueError(
                f"Expected an image shape (height, width, channels), received "
                f"{self.input_shape}. To fix, reshape the images, for example "
                f"x.reshape(-1, 8, 8, 1), or use the 'mlp' hypermodel."
            )

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        filters = hp.Choice("filters", [16, 32, 64])
        layers: list[keras.layers.Layer] = [keras.Input(self.input_shape)]
        size = min(self.input_shape[:2])
        for i in range(hp.Int("conv_blocks", 1, 2)):
            layers.append(keras.layers.Conv2D(filters * 2**i, 3, padding="same", activation="relu"))
            if size >= 2:
                layers.append(keras.layers.MaxPooling2D(2))
                size //= 2
        layers += [
            keras.layers.Flatten(),
            keras.layers.Dense(hp.Int("dense_units", 32, 128, step=32), activation="relu"),
            keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5, step=0.1)),
            keras.layers.Dense(self.num_classes, activation="softmax"),
        ]
        return self.compile(hp, keras.Sequential(layers, name="cnn"))
