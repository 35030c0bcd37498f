"""`frozen_heap`: the collector's passes skip what a process held before; nothing stays frozen after."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from kt_wandb._heap import frozen_heap, paused_collector
from kt_wandb.analysis import learning_curves, load_trials, parameter_importance, results_frame, write_report


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
        assert 0 < gc.get_freeze_count() <= frozen  # still frozen (a thread may free a frozen object meanwhile)
    assert gc.get_freeze_count() == 0


def test_what_the_program_froze_itself_is_left_frozen():
    # Which objects are frozen, not how many: any thread may free a frozen object meanwhile (the count drops).
    def seen(thing: object) -> bool:  # frozen objects are hidden from gc.get_objects()
        return any(o is thing for o in gc.get_objects())

    before = [object()]
    gc.freeze()
    try:
        after = [object()]
        with frozen_heap(collect=False):
            assert seen(after)  # the block froze nothing more
        assert not seen(before) and seen(after)  # nor unfroze what the program froze
    finally:
        gc.unfreeze()


def test_an_exception_in_the_block_unfreezes_the_heap():
    with pytest.raises(KeyError), frozen_heap(collect=False):
        assert gc.get_freeze_count() > 0
        raise KeyError("x")
    assert gc.get_freeze_count() == 0


# Issue #24, item 3: the analysis calls must leave the collector as they found it.


class Cycle:
    """Garbage only the cycle-finding collector frees: it refers to itself."""

    def __init__(self) -> None:
        self.itself = self


class Kept:
    """A small object the collector tracks (an instance, unlike `object()`); 32 bytes."""

    __slots__ = ()


@pytest.fixture(scope="module")
def search(tmp_path_factory) -> Path:
    from benchmarks.analysis_scale import make_search

    root = tmp_path_factory.mktemp("heap") / "search"
    make_search(root, 30, epochs=4)
    return root


def loop(calls, *, kept_each: int = 0):
    """`calls` with a reference cycle dropped before each, as a notebook's loop would; no `gc.collect()`.

    Returns how many cycles the collector freed by the end, and its full passes meanwhile. `kept_each` objects
    are kept alive before each call: the long-lived objects that make the collector's full passes come.
    """
    freed, kept, full = [], [], []

    def note(phase, info):
        if phase == "stop" and info["generation"] == 2:
            full.append(1)

    gc.callbacks.append(note)
    try:
        for index, call in enumerate(calls):
            kept.append([Kept() for _ in range(kept_each)])
            cycle = Cycle()
            weakref.finalize(cycle, freed.append, index)
            del cycle
            call()
    finally:
        gc.callbacks.remove(note)
    return len(freed), len(full)


def test_the_cycles_left_between_analysis_calls_are_collected_by_the_collector_itself(search):
    frame = results_frame(search)
    calls = [
        lambda: results_frame(search),
        lambda: learning_curves(search),
        lambda: parameter_importance(frame, n_estimators=5),
        lambda: write_report(search, search / "report.html"),
    ]
    freed, _ = loop(calls * 8)
    assert freed >= len(calls) * 8 - 1  # was 0: each cycle frozen with the heap, then left for a full pass


def test_an_analysis_loop_sees_as_many_full_passes_as_without_the_pausing(search):
    assert gc.isenabled()
    calls = [lambda: results_frame(search), lambda: learning_curves(search)] * 75
    bare = [lambda: results_frame.__wrapped__(search), lambda: learning_curves.__wrapped__(search)] * 75
    # A full pass comes once the objects kept since the last one reach a quarter of those it kept: 150 times
    # 1/200 of the heap comes to 3/4 of it, a few passes.
    kept_each = max(2000, len(gc.get_objects()) // 200)
    _, undecorated = loop(bare, kept_each=kept_each)
    freed, decorated = loop(calls, kept_each=kept_each)
    assert undecorated >= 2  # the loop's kept objects make the collector's full passes come ...
    assert decorated >= undecorated - 1  # ... also with each call pausing it (was 0: each freeze reset its counts)
    assert freed == len(calls)


def test_no_pass_of_the_collector_in_mid_call_and_it_is_on_again_after(search):
    passes = []

    def note(phase, info):
        if phase == "start":
            passes.append(info["generation"])

    def reading():
        gc.callbacks.append(note)
        try:
            return load_trials(search)
        finally:
            gc.callbacks.remove(note)

    with paused_collector():
        assert not gc.isenabled()
        with paused_collector():  # nested: the outer one turns it on again
            pass
        assert not gc.isenabled()
        [[] for _ in range(10_000)]  # would start passes of the young generations
        reading()
    assert passes == [] and gc.isenabled()

    gc.disable()  # a program that turned the collector off keeps it off
    try:
        with paused_collector():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


# Issue #24, item 9: memory-debugging tools see the objects a search found, where KT_WANDB_FREEZE_HEAP=0.


class Before:
    """An object the program made before the search, as objgraph would look for it."""


def seen_during_a_search(tmp_path, digits, tiny_model, held):
    """Whether `gc.get_objects()` and `gc.get_referrers()` show `held[0]` as the search's trial trains."""
    import keras

    from kt_wandb import WandbTuner

    seen = []

    class Look(keras.callbacks.Callback):
        def __deepcopy__(self, memo):  # KerasTuner copies callbacks for each execution
            return self

        def on_train_begin(self, logs=None):
            target = held[0]
            seen.append((any(o is target for o in gc.get_objects()),
                         any(r is held for r in gc.get_referrers(target)),
                         gc.get_freeze_count()))

    tuner = WandbTuner(tiny_model, objective="val_accuracy", oracle="random", max_trials=1, seed=1,
                       wandb_mode="disabled", directory=str(tmp_path), project_name="debug")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0, callbacks=[Look()])
    assert len(seen) == 1
    return seen[0]


def test_with_the_freeze_turned_off_a_search_hides_nothing_from_gc_get_objects(
    tmp_path, digits, tiny_model, monkeypatch
):
    held = [Before()]  # made before the search: the list holds it, as a program's own objects would
    in_objects, in_referrers, frozen = seen_during_a_search(tmp_path / "frozen", digits, tiny_model, held)
    assert not in_objects and not in_referrers and frozen > 0  # by default: frozen, and so hidden
    monkeypatch.setenv("KT_WANDB_FREEZE_HEAP", "0")
    in_objects, in_referrers, frozen = seen_during_a_search(tmp_path / "open", digits, tiny_model, held)
    assert in_objects and in_referrers and frozen == 0
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(("value", "wanted"), [("0", False), ("off", False), ("1", True), ("", True), (" TRUE ", True)])
def test_the_freeze_variable(value, wanted):
    from kt_wandb._heap import freeze_wanted

    assert freeze_wanted({"KT_WANDB_FREEZE_HEAP": value}) is wanted
    assert freeze_wanted({}) is True


def test_a_bad_freeze_variable_is_refused_with_the_fix(tmp_path, digits, tiny_model, monkeypatch):
    monkeypatch.setenv("KT_WANDB_FREEZE_HEAP", "flase")
    with pytest.raises(ValueError, match=r"Expected KT_WANDB_FREEZE_HEAP to be 0 or 1, received 'flase'\. To fix"):
        seen_during_a_search(tmp_path, digits, tiny_model, [Before()])
