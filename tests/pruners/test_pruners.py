"""The pruners' rules (`kt_wandb.pruners`), on curves made by hand: no Keras, no search."""

from __future__ import annotations

from pathlib import Path

import kt_wandb
from kt_wandb.pruners import Curves, MedianPruner, SuccessiveHalvingPruner
from tests.helpers.imports import imports


def test_the_median_pruner_stops_a_trial_worse_than_the_others_median_once_enough_reached_the_epoch():
    values = {"a": {0: 0.5, 1: 0.6}, "b": {0: 0.6, 1: 0.7}, "c": {0: 0.7, 1: 0.8}, "x": {0: 0.55, 1: 0.62}}
    curves = Curves(values, "max")
    assert MedianPruner(warmup_epochs=0, min_trials=3).prune("x", 1, curves)  # 0.62 < median(0.6, 0.7, 0.8)
    assert not MedianPruner(warmup_epochs=0, min_trials=3).prune("c", 1, curves)
    assert not MedianPruner(warmup_epochs=2, min_trials=3).prune("x", 1, curves)  # still warming up
    assert not MedianPruner(warmup_epochs=0, min_trials=4).prune("x", 1, curves)  # too few others at epoch 1
    # Its best so far counts, not its last epoch: a trial that was ahead and dipped is judged by its best.
    dipped = Curves({**values, "x": {0: 0.75, 1: 0.1}}, "max")
    assert not MedianPruner(warmup_epochs=0, min_trials=3).prune("x", 1, dipped)
    # A loss is minimised: the same numbers, the other way round.
    losses = Curves(values, "min")
    assert not MedianPruner(warmup_epochs=0, min_trials=3).prune("x", 1, losses)
    assert MedianPruner(warmup_epochs=0, min_trials=3).prune("c", 1, losses)


def test_asha_keeps_the_top_third_at_each_rung_and_judges_nowhere_else():
    asha = SuccessiveHalvingPruner(min_epochs=1, reduction_factor=3)
    assert [e for e in range(30) if asha.is_rung(e)] == [0, 2, 8, 26]  # after 1, 3, 9 and 27 epochs
    assert [e for e in range(30) if SuccessiveHalvingPruner(min_epochs=2, reduction_factor=2).is_rung(e)] == [
        1, 3, 7, 15,
    ]
    six = Curves({str(i): {0: v, 1: v} for i, v in enumerate([0.1, 0.9, 0.5, 0.7, 0.3, 0.8])}, "max")
    stopped = [t for t in six.values if asha.prune(t, 0, six)]
    assert sorted(stopped) == ["0", "2", "3", "4"]  # 6 // 3 = 2 go on: 0.9 and 0.8
    assert not any(asha.prune(t, 1, six) for t in six.values)  # epoch 1 is no rung
    alone = Curves({"0": {0: 0.2}}, "max")
    assert not asha.prune("0", 0, alone)  # the first to reach a rung is the best there


def test_the_pruners_import_no_keras():
    # Which kt_wandb parts each part may import: tests/test_layers.py.
    for path in (Path(kt_wandb.__file__).parent / "pruners").glob("*.py"):
        assert not {name for name in imports(path) if name.split(".")[0] in ("keras", "tensorflow", "keras_tuner")}
