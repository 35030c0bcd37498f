"""What the example hypermodels share: the shapes they take and how they compile."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import keras_tuner as kt

__all__ = ["ClassifierHyperModel"]


class ClassifierHyperModel(kt.HyperModel):
    """Base of the example classifiers: input shape, class count and the compile step.

    Args:
        input_shape: The shape of one example, without the batch axis.
        num_classes: How many classes the labels (integers from 0) have.
        name: The hypermodel's name.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int, *, name: str) -> None:
        super().__init__(name=name)
        if num_classes < 2:
            raise ValueError(
                f"Expected at least 2 classes, received num_classes={num_classes}. "
                f"To fix, pass labels with two classes or more."
            )
        self.input_shape = tuple(int(d) for d in input_shape)
        self.num_classes = int(num_classes)

    def compile(self, hp: kt.HyperParameters, model: keras.Model) -> keras.Model:
        """Compiles `model` with a tuned Adam learning rate and accuracy."""
        rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model
