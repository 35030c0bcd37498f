"""Datasets for the command line: the bundled digits, or the user's `.npz` / `.csv` file."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset", "load_dataset"]


@dataclass(frozen=True)
class Dataset:
    """Features and integer class labels, split into a training and a test part.

    Attributes:
        name: Where the data came from.
        x_train: Training features, float32.
        y_train: Training labels, integers from 0.
        x_test: Held-out features, never seen by the search.
        y_test: Held-out labels.
        classes: The original label of each class index.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: np.ndarray

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def as_images(self) -> Dataset:
        """The same data with square single-channel images, for the CNN."""
        if self.x_train.ndim >= 3:
            return self
        side = round(self.x_train.shape[1] ** 0.5)
        if side * side != self.x_train.shape[1]:
            raise ValueError(
                f"Expected images, or flat features whose count is a square number, "
                f"received {self.x_train.shape[1]} features per example. To fix, use "
                f"the 'mlp' hypermodel, or save the images with their shape in an .npz."
            )
        shape = (-1, side, side, 1)
        return Dataset(
            self.name,
            self.x_train.reshape(shape),
            self.y_train,
            self.x_test.reshape(shape),
            self.y_test,
            self.classes,
        )


def load_dataset(
    source: str = "digits",
    *,
    label_column: str = "label",
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Loads a dataset and holds out a stratified test part.

    Args:
        source: "digits" (scikit-learn's bundled 1,797 8×8 images), a `.npz`
            file with arrays `x` and `y` (or the array named `label_column`),
            or a `.csv` file with a header row and the label in `label_column`.
        label_column: The label's column (csv) or array name (npz).
        test_fraction: The share of examples held out for testing.
        seed: Seed of the split.

    Raises:
        ValueError: For an unknown dataset name, a missing file, or a missing
            label column.
    """
    if source == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = (digits.data / 16.0).astype("float32"), digits.target
    elif source.endswith((".npz", ".csv")):
        if not os.path.isfile(source):
            raise ValueError(
                f"Expected an existing data file, received {source!r}, which does "
                f"not exist. To fix, check the path (relative to {os.getcwd()})."
            )
        x, y = _read_npz(source, label_column) if source.endswith(".npz") else _read_csv(source, label_column)
    else:
        raise ValueError(
            f"Expected 'digits' or a path ending in .npz or .csv, received {source!r}. "
            f"To fix, pass one of those to --data."
        )
    if len(x) != len(y):
        raise ValueError(
            f"Expected as many labels as examples, received {len(x)} examples and "
            f"{len(y)} labels. To fix, give x and y of the same length."
        )
    classes, labels = np.unique(y, return_inverse=True)
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return Dataset(os.path.basename(source), x_train, y_train, x_test, y_test, classes)


def _read_npz(path: str, label_column: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        label = label_column if label_column in data.files else "y"
        if "x" not in data.files or label not in data.files:
            raise ValueError(
                f"Expected arrays 'x' and {label_column!r} (or 'y') in {path}, "
                f"received {sorted(data.files)}. To fix, save them with "
                f"np.savez(path, x=features, y=labels)."
            )
        return data["x"].astype("float32"), data[label]


def _read_csv(path: str, label_column: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    frame = pd.read_csv(path)
    if label_column not in frame.columns:
        raise ValueError(
            f"Expected a label column {label_column!r} in {path}, received the "
            f"columns {list(frame.columns)}. To fix, pass --label-column with one "
            f"of those."
        )
    features = frame.drop(columns=[label_column])
    non_numeric = [c for c in features.columns if not np.issubdtype(features[c].dtype, np.number)]
    if non_numeric:
        raise ValueError(
            f"Expected numeric feature columns in {path}, received non-numeric "
            f"{non_numeric}. To fix, encode them as numbers or drop them."
        )
    return features.to_numpy("float32"), frame[label_column].to_numpy()
