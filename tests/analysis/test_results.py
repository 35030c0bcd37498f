"""The results table, from the search's own files."""

from __future__ import annotations

import subprocess
import sys

import keras
import pandas as pd
import pytest

from kt_wandb import WandbTuner
from kt_wandb.analysis import results_frame
from tests.helpers.environment import child_env
from tests.helpers.wandb_log import read_runs


def make(tmp_path, build, **kwargs):
    kwargs.setdefault("max_trials", 3)
    return WandbTuner(
        build, objective="val_accuracy", oracle="random", seed=3,
        directory=str(tmp_path / "search"), project_name="table", **kwargs,
    )


def test_one_row_per_trial_with_params_scores_and_runs(tmp_path, wandb_env, digits, tiny_model):
    tuner = make(tmp_path, tiny_model, executions_per_trial=2)
    # Three epochs, the last at a learning rate that throws away what the first two learned: a trial's
    # best epoch comes before its last one, so the row's metrics must be the best epoch's, not the last's.
    spike = keras.callbacks.LearningRateScheduler(lambda epoch, rate: 10.0 if epoch == 2 else rate)
    tuner.search(*digits, epochs=3, validation_split=0.25, verbose=0, callbacks=[spike])
    frame = tuner.results_frame()
    runs = read_runs(wandb_env)
    assert len(frame) == 3
    assert list(frame.columns[:5]) == ["trial_id", "status", "error", "param_units", "param_learning_rate"]
    assert frame.attrs == {
        "objective": "val_accuracy", "direction": "max", "oracle": "random", "search_id": tuner.search_id,
    }
    before_last = []
    for row in frame.itertuples():
        trial = tuner.oracle.trials[row.trial_id]
        run = runs[row.wandb_run_id]
        assert row.param_units == trial.hyperparameters.values["units"]
        assert row.score == pytest.approx(trial.score) == pytest.approx(run.summary["val_accuracy"])
        assert row.metric_val_accuracy == pytest.approx(trial.score)
        for name in ("loss", "accuracy", "val_loss"):  # every metric at the best epoch, not the objective only
            assert getattr(row, f"metric_{name}") == pytest.approx(trial.metrics.get_last_value(name))
            assert getattr(row, f"metric_{name}") == pytest.approx(run.summary[name])
        per_execution = [min(r[f"execution_{i}/val_loss"] for r in run.history if f"execution_{i}/val_loss" in r)
                         for i in (0, 1)]
        assert row.best_val_loss == pytest.approx(sum(per_execution) / 2)  # the best of each curve, averaged
        assert (row.execution_0_score + row.execution_1_score) / 2 == pytest.approx(row.score)
        assert row.best_step == trial.best_step
        assert row.duration_s > 0
        assert row.wandb_exit_code == 0 and row.wandb_run_dir.endswith(row.wandb_run_id)
        # Each metric at each execution's best epoch (the first with the best val_accuracy, as KerasTuner
        # picks it), averaged over the executions: read from the curves W&B logged, epoch by epoch.
        curves = [execution_curve(run.history, i) for i in (0, 1)]
        assert [len(curve) for curve in curves] == [3, 3]
        best = [max(range(3), key=lambda e, curve=curve: (curve[e]["val_accuracy"], -e)) for curve in curves]
        for name in ("val_accuracy", "loss", "accuracy", "val_loss"):
            at_best = [curve[epoch][name] for curve, epoch in zip(curves, best, strict=True)]
            assert getattr(row, f"metric_{name}") == pytest.approx(sum(at_best) / 2), name
        if best != [2, 2]:
            before_last.append(row.trial_id)
            assert row.metric_val_loss != pytest.approx(sum(curve[-1]["val_loss"] for curve in curves) / 2)
    assert before_last  # a trial whose best epoch is not its last: the last epoch's metrics would differ


def execution_curve(history: list[dict], execution: int) -> list[dict]:
    """One execution's epochs as W&B logged them (`execution_<i>/<metric>`), each by its metrics' plain names."""
    prefix = f"execution_{execution}/"
    return [{k.removeprefix(prefix): v for k, v in r.items() if k.startswith(prefix)}
            for r in history if f"{prefix}val_accuracy" in r]


def test_built_in_another_process_and_with_wandb_disabled(tmp_path, digits, tiny_model):
    tuner = make(tmp_path, tiny_model, max_trials=2, wandb_mode="disabled")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    code = (
        "import sys; from kt_wandb.analysis import results_frame; "
        "f = results_frame(sys.argv[1]); print(f.to_json(orient='records'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, tuner.project_dir], capture_output=True, text=True, env=child_env()
    )
    assert out.returncode == 0, out.stderr[-2000:]
    frame = pd.read_json(__import__("io").StringIO(out.stdout))
    assert list(frame["status"]) == ["COMPLETED", "COMPLETED"]
    assert frame["wandb_run_dir"].isna().all()  # no run written ...
    assert frame["score"].notna().all()  # ... and the scores are there all the same


def test_failed_trials_and_conditional_parameters_leave_gaps(tmp_path, digits, tiny_model):
    def build(hp):
        model = tiny_model(hp)
        if hp.get("units") == 16:
            with hp.conditional_scope("units", [16]):
                hp.Boolean("only_for_16")
            raise RuntimeError("no 16s")
        return model

    tuner = WandbTuner(build, objective="val_accuracy", oracle="grid", max_consecutive_failed_trials=10,
                       directory=str(tmp_path / "s"), project_name="grid")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    frame = tuner.results_frame()
    failed = frame[frame.param_units == 16]
    assert set(failed.status) == {"FAILED"} and failed.score.isna().all()
    assert failed.wandb_exit_code.eq(1).all()
    assert frame[frame.param_units == 8].status.eq("COMPLETED").all()
    # The conditional hyperparameter exists only where its parent's value makes it active.
    assert frame[frame.param_units == 8].param_only_for_16.isna().all()
    assert failed.param_only_for_16.notna().all()


def test_a_folder_without_trials_says_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"Expected a KerasTuner project directory.*project_name"):
        results_frame(tmp_path)



def test_a_resumed_search_has_every_trial_once_with_its_own_run(tmp_path, wandb_env, digits, tiny_model):
    first = make(tmp_path, tiny_model, max_trials=2)
    first.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    resumed = make(tmp_path, tiny_model, max_trials=3)  # overwrite=False: KerasTuner reloads the search
    resumed.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    frame = resumed.results_frame()
    runs = read_runs(wandb_env)
    assert list(frame.trial_id) == sorted(resumed.oracle.trials) and len(frame) == 3
    assert sorted(frame.wandb_run_id) == sorted(runs)
    assert frame.score.notna().all() and frame.duration_s.gt(0).all()


# Issue #24, item 4: the files the analysis read stay cached within a budget, not for good.


def aged_search(root, trials):
    """A synthetic search whose files were written a minute ago (files written just now are never cached)."""
    import os
    import time

    from benchmarks.analysis_scale import make_search

    make_search(root, trials, epochs=10)
    past = time.time() - 60
    for path in root.glob("trial_*/*.json"):
        os.utime(path, (past, past))
    return root


def cached_bytes():
    """The sizes of the files the analysis keeps parsed, measured here rather than taken from its own count."""
    import os

    from kt_wandb.analysis import _results

    return sum(os.path.getsize(key) for key in _results._READ)


@pytest.fixture
def empty_cache(monkeypatch):
    from kt_wandb.analysis import _results

    monkeypatch.setattr(_results, "_READ", type(_results._READ)())
    monkeypatch.setattr(_results, "_read_bytes", 0, raising=False)
    return _results


def count_reads(monkeypatch):
    """The search files read from now on, by name."""
    from pathlib import Path

    reads = []
    read_text = Path.read_text

    def counting(self, *args, **kwargs):
        if self.name in ("trial.json", "wandb_run.json"):
            reads.append(self)
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    return reads


def test_a_dropped_frame_leaves_at_most_the_budget_of_files_cached(tmp_path, empty_cache, monkeypatch):
    import gc
    import tracemalloc

    root = aged_search(tmp_path / "search", 300)
    monkeypatch.setattr(empty_cache, "_KEEP_BUDGET", 200_000, raising=False)
    files = sum(p.stat().st_size for p in root.glob("trial_*/*.json"))
    assert files > 4 * 200_000
    tracemalloc.start()
    try:
        frame = results_frame(root)
        assert len(frame) == 300
        del frame
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert cached_bytes() <= 200_000  # was every file: 300 trials' worth
    assert empty_cache._read_bytes == cached_bytes()  # what it counts is what it holds
    assert held < 8 * 200_000  # parsed, about 5 times the files' bytes


def test_a_live_report_reads_each_file_once_while_unchanged_and_the_final_one_frees_them(
    tmp_path, empty_cache, monkeypatch
):
    import json
    import os

    from kt_wandb.analysis import write_report

    root = aged_search(tmp_path / "search", 40)
    reads = count_reads(monkeypatch)
    write_report(root, live=True)
    assert len(reads) == 80
    write_report(root, live=True)  # after the next trial: nothing changed
    assert len(reads) == 80
    record = root / "trial_0007" / "wandb_run.json"
    changed = {**json.loads(record.read_text()), "duration_s": 9.0}
    record.write_text(json.dumps(changed))
    os.utime(record, (os.path.getmtime(record) - 60,) * 2)
    before = len(reads)
    write_report(root, live=True)
    assert reads[before:] == [record]  # only what changed is read again
    assert results_frame(root).set_index("trial_id").duration_s["0007"] == 9.0
    monkeypatch.setattr(empty_cache, "_KEEP_BUDGET", 10_000, raising=False)
    write_report(root)  # the final report: the search is over, its files need not stay
    assert cached_bytes() <= 10_000


def test_a_live_report_of_a_search_bigger_than_the_budget_still_reads_part_of_it_from_the_cache(
    tmp_path, empty_cache, monkeypatch
):
    from kt_wandb.analysis import write_report

    root = aged_search(tmp_path / "search", 60)
    files = sum(p.stat().st_size for p in root.glob("trial_*/*.json"))
    monkeypatch.setattr(empty_cache, "_READ_BUDGET", files // 2, raising=False)
    reads = count_reads(monkeypatch)
    write_report(root, live=True)
    first = len(reads)
    write_report(root, live=True)
    again = len(reads) - first
    assert first == 120
    assert cached_bytes() <= files // 2
    # The first half stays cached from one report to the next: a least-recently-used cache would read all again.
    assert 50 <= again <= 70
