"""`frozen_heap`: the collector's passes skip what a process held before; nothing stays frozen after."""

from __future__ import annotations

import gc

import pytest

from kt_wandb._heap import frozen_heap
from kt_wandb.analysis import results_frame


def test_an_analysis_call_that_fails_leaves_nothing_frozen(tmp_path):
    assert gc.get_freeze_count() == 0
    with pytest.raises(FileNotFoundError, match="Expected a KerasTuner project directory"):
        results_frame(tmp_path / "nothing")
    assert gc.get_freeze_count() == 0


def test_within_a_frozen_block_an_analysis_call_leaves_it_frozen(tmp_path):
    with frozen_heap():  # as a search does, around the live report's analysis
        frozen = gc.get_freeze_count()
        with pytest.raises(FileNotFoundError):
            results_frame(tmp_path / "nothing")
        assert gc.get_freeze_count() == frozen > 0
    assert gc.get_freeze_count() == 0


def test_what_the_program_froze_itself_is_left_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with frozen_heap(collect=False):
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen  # not unfrozen by the block
    finally:
        gc.unfreeze()


def test_an_exception_in_the_block_unfreezes_the_heap():
    with pytest.raises(KeyError), frozen_heap(collect=False):
        assert gc.get_freeze_count() > 0
        raise KeyError("x")
    assert gc.get_freeze_count() == 0
