"""The command line's datasets."""

from __future__ import annotations

import numpy as np
import pytest

from kt_wandb.data import load_dataset


def test_digits_are_split_stratified_and_scaled():
    data = load_dataset("digits", seed=0)
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64)
    assert data.num_classes == 10
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    counts = np.bincount(data.y_test)
    assert counts.min() >= 35  # every class is held out in proportion
    assert data.as_images().x_train.shape == (1437, 8, 8, 1)


def test_csv_with_named_label_column(tmp_path):
    path = tmp_path / "d.csv"
    rows = ["a,b,species"] + [f"{i},{i * 2},{'cat' if i % 2 else 'dog'}" for i in range(20)]
    path.write_text("\n".join(rows))
    data = load_dataset(str(path), label_column="species")
    assert data.x_train.shape[1] == 2
    assert list(data.classes) == ["cat", "dog"]
    with pytest.raises(ValueError, match=r"label column 'label'.*\['a', 'b', 'species'\].*--label-column"):
        load_dataset(str(path))


def test_npz(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(40, dtype="float32").reshape(20, 2), y=np.arange(20) % 2)
    assert load_dataset(str(path)).x_test.shape == (4, 2)
    np.savez(path, features=np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"arrays 'x'.*received \['features'\]"):
        load_dataset(str(path))


@pytest.mark.parametrize("source", ["missing.csv", "mnist"])
def test_unknown_sources_say_what_is_expected(source):
    with pytest.raises(ValueError, match="Expected"):
        load_dataset(source)
