"""Pruning: the pruners' rules, and real searches read back from KerasTuner's files and the `.wandb` logs."""

from __future__ import annotations

import json
import math
import re
import textwrap
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pandas as pd
import pytest

from kt_wandb import MedianPruner, Pruner, SuccessiveHalvingPruner, WandbTuner
from kt_wandb.analysis import results_frame, write_report
from tests.helpers.environment import CHILD_SEARCH, kill_then_resume
from tests.helpers.tensorboard_events import accumulate, scalars
from tests.helpers.wandb_log import read_runs

FOLDER = "search"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MedianPruner(min_trials=0), "Expected `min_trials` to be an integer of at least 1, received 0"),
        (lambda: MedianPruner(warmup_epochs=1.5), "Expected `warmup_epochs` to be an integer of at least 0"),
        (lambda: SuccessiveHalvingPruner(reduction_factor=1), "Expected `reduction_factor` .* at least 2"),
        (lambda: WandbTuner(lambda hp: None, objective="val_loss", pruner="mediam", directory=FOLDER),
         r"Expected `pruner` to be None, one of \['asha', 'median'\] .* received 'mediam'"),
        (lambda: WandbTuner(lambda hp: None, objective="val_loss", oracle="hyperband", max_epochs=3,
                            pruner="median", directory=FOLDER),
         "Expected no `pruner` with the Hyperband oracle.*Hyperband already stops trials early"),
    ],
)
def test_bad_pruner_settings_are_refused_with_the_fix(tmp_path, monkeypatch, make, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        make()
    assert not (tmp_path / FOLDER).exists()  # refused before anything was written


# -- real searches ---------------------------------------------------------------------------


class PruneTrials(Pruner):
    """Stops the trials given by their index (0, 1, ...) after `epoch`: deterministic, to test the mechanics."""

    def __init__(self, indices, epoch=1):
        self.indices, self.epoch = set(indices), epoch

    def prune(self, trial_id, epoch, curves):
        return int(trial_id) in self.indices and epoch >= self.epoch


def build(hp):
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(hp.Int("units", 8, 32, step=8), activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    # `learning_rate` 0 never learns: the hopeless trials a pruner is for.
    rate = hp.Choice("learning_rate", [0.02, 0.0])
    model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def make_tuner(tmp_path: Path, pruner, **kwargs) -> WandbTuner:
    kwargs.setdefault("oracle", "grid")
    return WandbTuner(build, objective="val_accuracy", pruner=pruner, directory=str(tmp_path / "search"),
                      project_name="p", overwrite=True, **kwargs)


def search(tuner: WandbTuner, digits, epochs: int = 4, **kwargs) -> None:
    x, y = digits
    tuner.search(x, y, epochs=epochs, validation_split=0.25, verbose=0, **kwargs)


def test_a_pruned_trial_stops_is_completed_with_its_best_so_far_and_is_marked_everywhere(tmp_path, wandb_env, digits):
    tuner = make_tuner(tmp_path, PruneTrials({1, 3}, epoch=1), max_trials=4, tensorboard_dir=tmp_path / "tb")
    search(tuner, digits, epochs=4)

    runs = read_runs(wandb_env)
    frame = results_frame(tuner.project_dir).set_index("trial_id")
    for trial_id, trial in tuner.oracle.trials.items():
        run = runs[f"{tuner.search_id}-{trial_id}"]
        pruned = int(trial_id) in (1, 3)
        assert trial.status == "COMPLETED" and run.exit_code == 0
        assert len(run.history) == (2 if pruned else 4)  # epochs 0 and 1, then it stopped
        assert ("pruned" in run.tags) is pruned
        assert run.summary["trial/status"] == ("PRUNED" if pruned else "COMPLETED")
        assert frame.loc[trial_id, "status"] == ("PRUNED" if pruned else "COMPLETED")
        if pruned:
            assert run.summary["trial/pruned_at_epoch"] == 1 == frame.loc[trial_id, "pruned_at_epoch"]
            accuracies = [row["epoch/val_accuracy"] for row in run.history]
            assert trial.score == pytest.approx(max(accuracies))  # its best so far, as the oracle ranks it
            assert trial.best_step == int(np.argmax(accuracies))
            tuner.load_model(trial)  # its best checkpoint is kept
            check_tensorboard_session(tmp_path / "tb" / trial_id, trial)
        else:
            assert "trial/pruned_at_epoch" not in run.summary and pd.isna(frame.loc[trial_id, "pruned_at_epoch"])
    # The trial's results are KerasTuner's own: the epoch reports left no metric behind.
    assert all(set(t.metrics.metrics) == {"loss", "accuracy", "val_loss", "val_accuracy"}
               for t in tuner.oracle.trials.values())

    html = Path(write_report(tuner.project_dir)).read_text()
    assert "<b>2</b> completed" in html and "<b>2</b> pruned" in html  # the report's counts by status
    assert html.count("(pruned)") == 2 and len(re.findall(r'"dash":\s*"dash"', html)) == 2  # their curves are dashed


def check_tensorboard_session(logdir: Path, trial) -> None:
    """The pruned trial's HParams session ended, a success, with its curve up to the pruning and its score."""
    from tensorboard.plugins.hparams import api_pb2, metadata

    accumulator = accumulate(logdir)
    content = accumulator.PluginTagToContent(metadata.PLUGIN_NAME)
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    assert end.status == api_pb2.STATUS_SUCCESS
    assert [step for step, _ in scalars(accumulator, "epoch/val_accuracy")] == [0, 1]
    assert scalars(accumulator, "val_accuracy") == [(trial.best_step, pytest.approx(trial.score))]


def test_the_median_pruner_stops_the_trials_that_never_learn(tmp_path, wandb_env, digits):
    # Grid order: units 8, 16, 24, 32, each with learning rate 0.02 then 0. Three epochs: epoch 0 is the
    # warm-up and epoch 2 ends the trial, so each trial is judged at epoch 1 only, where the median of the
    # others lies between the learners and the hopeless ones (a later epoch would judge the learners among
    # themselves, and could rightly stop the slowest).
    tuner = make_tuner(tmp_path, MedianPruner(warmup_epochs=1, min_trials=2), max_trials=8)
    search(tuner, digits, epochs=3)
    frame = results_frame(tuner.project_dir)
    hopeless = frame[frame.param_learning_rate == 0.0]
    learning = frame[frame.param_learning_rate > 0]
    judged = hopeless[hopeless.trial_id.astype(int) >= 2]  # two others had reached epoch 1 by then
    assert len(judged) == 3 and len(learning) == 4
    assert (judged.status == "PRUNED").all() and (judged.pruned_at_epoch == 1).all()
    # Only the hopeless are stopped: every trial that learns trains to the end, and so does the hopeless
    # trial 1, which only one other trial had reached epoch 1 before (min_trials=2).
    assert (learning.status == "COMPLETED").all() and learning.pruned_at_epoch.isna().all()
    assert list(hopeless[~hopeless.index.isin(judged.index)].status) == ["COMPLETED"]
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.hyperparameters.get("learning_rate") == 0.02 and frame.set_index("trial_id").status[best.trial_id] == (
        "COMPLETED"
    )


class RecordsWhatItSaw(PruneTrials):
    """Stops as `PruneTrials` does, and keeps each question: the trial, the epoch and a copy of the curves handed."""

    def __init__(self, indices, epoch=1):
        super().__init__(indices, epoch)
        self.seen = []

    def prune(self, trial_id, epoch, curves):
        self.seen.append((trial_id, epoch, {t: dict(curve) for t, curve in curves.values.items()}))
        return super().prune(trial_id, epoch, curves)


def test_several_executions_are_judged_each_against_the_same_execution_and_a_pruned_trial_skips_the_rest(
    tmp_path, wandb_env, digits
):
    pruner = RecordsWhatItSaw({1}, epoch=1)
    tuner = make_tuner(tmp_path, pruner, max_trials=2, executions_per_trial=2)
    search(tuner, digits, epochs=3)
    records = {tid: json.loads(Path(tuner.get_trial_dir(tid), "wandb_run.json").read_text())
               for tid in tuner.oracle.trials}
    kept, pruned = sorted(records)
    assert [len(curve) for curve in records[kept]["history"]] == [3, 3]
    assert [len(curve) for curve in records[pruned]["history"]] == [2]  # its second execution never trained
    seen = json.loads(Path(tuner.get_trial_dir(kept), "pruning.json").read_text())
    assert sorted(seen["curves"]) == ["0", "1"] and all(len(c) == 3 for c in seen["curves"].values())

    # What each question should have handed the pruner, from each execution's recorded curve: the trials
    # run one after the other, so the trial judged sees its own execution so far, and that same execution,
    # whole, of each trial before it that ran it (never another execution's values, never a merge).
    curves = {tid: [[epoch["val_accuracy"] for epoch in curve] for curve in record["history"]]
              for tid, record in records.items()}
    expected = []
    for tid in sorted(curves):
        for execution, curve in enumerate(curves[tid]):
            for epoch in range(len(curve)):
                if execution == 1 and epoch == 2:  # the trial's last epoch: it ends there anyway, unjudged
                    continue
                before = {other: dict(enumerate(curves[other][execution])) for other in sorted(curves)
                          if other < tid and execution < len(curves[other])}
                expected.append((tid, epoch, {**before, tid: dict(enumerate(curve[: epoch + 1]))}))
    assert pruner.seen == expected
    # The same, spelled out where it tells the executions apart: the kept trial's second execution was judged
    # against its own second curve alone, and the pruned trial against the kept trial's first execution.
    assert pruner.seen[3] == (kept, 0, {kept: {0: curves[kept][1][0]}})
    assert pruner.seen[5][2][kept] == dict(enumerate(curves[kept][0])) != dict(enumerate(curves[kept][1]))


class Raises(Pruner):
    def prune(self, trial_id, epoch, curves):
        if trial_id.endswith("1"):
            raise ZeroDivisionError("a bug in the pruner")
        return False


def test_a_pruner_that_raises_fails_that_trial_not_the_search(tmp_path, wandb_env, digits):
    tuner = make_tuner(tmp_path, Raises(), max_trials=3)
    search(tuner, digits, epochs=2)
    statuses = {tid: t.status for tid, t in tuner.oracle.trials.items()}
    assert sorted(statuses.values()) == ["COMPLETED", "COMPLETED", "FAILED"]
    (failed,) = [t for t in tuner.oracle.trials.values() if t.status == "FAILED"]
    assert "Expected the pruner Raises() to decide on trial" in failed.message
    assert "ZeroDivisionError: a bug in the pruner" in failed.message
    run = read_runs(wandb_env)[f"{tuner.search_id}-{failed.trial_id}"]
    assert run.exit_code == 1 and "a bug in the pruner" in run.summary["trial/error"]


# -- a kill, and a resume ----------------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import json, os, pathlib, signal, sys
    import keras
    from sklearn.datasets import load_digits
    from kt_wandb import Pruner, WandbTuner

    root, stage = pathlib.Path(sys.argv[1]), sys.argv[2]

    class PruneTrials(Pruner):  # the first process: trials 1 and 2 stop after epoch 1
        def prune(self, trial_id, epoch, curves):
            return int(trial_id) in (1, 2) and epoch >= 1

    class NeverPrune(Pruner):  # the resumed process: says what it saw, stops nothing
        def prune(self, trial_id, epoch, curves):
            with open(root / "seen.jsonl", "a") as seen:
                seen.write(json.dumps({"trial": trial_id, "epoch": epoch, "curves": curves.values}) + "\\n")
            return False

    class KillWhenThirdTrialIsPruned(keras.callbacks.Callback):
        fits = 0

        def on_train_begin(self, logs=None):
            KillWhenThirdTrialIsPruned.fits += 1

        def on_train_end(self, logs=None):  # after the decision, before the trial ended
            if KillWhenThirdTrialIsPruned.fits == 3:
                os.kill(os.getpid(), signal.SIGKILL)

    """
) + CHILD_SEARCH + textwrap.dedent(
    """
    first = stage == "first"
    tuner = WandbTuner(build, objective="val_accuracy", oracle="random", max_trials=4, seed=0,
                       pruner=PruneTrials() if first else NeverPrune(),
                       directory=str(root), project_name="p", overwrite=first)
    tuner.search(x, y, epochs=4, validation_split=0.25, verbose=0,
                 callbacks=[KillWhenThirdTrialIsPruned()] if first else [])
    """
)


@pytest.mark.slow
def test_a_search_killed_after_a_pruning_decision_keeps_it_on_resume(tmp_path, wandb_env):
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    root = tmp_path / "search"

    kill_then_resume(script, root)

    frame = results_frame(root / "p").set_index("trial_id")
    ids = sorted(frame.index)
    assert list(frame.status[ids]) == ["COMPLETED", "PRUNED", "PRUNED", "COMPLETED"]
    assert list(frame.pruned_at_epoch[ids[1:3]]) == [1, 1]
    # Trial 2 was killed after it was pruned, before it ended: run again, it was stopped at the same epoch
    # although the resumed search's pruner stops nothing; trial 3 is that pruner's, and trained to the end.
    runs = read_runs(wandb_env)
    retried = frame.wandb_run_id[ids[2]]
    assert retried.endswith("-r1") and len(runs[retried].history) == 2 and "pruned" in runs[retried].tags
    assert len(runs[frame.wandb_run_id[ids[3]]].history) == 4
    seen = [json.loads(line) for line in (root / "seen.jsonl").read_text().splitlines()]
    # The resumed pruner saw the curves the first process reported: trial 0 whole, trial 1 up to its pruning.
    first_look = seen[0]["curves"]
    assert len(first_look[ids[0]]) == 4 and len(first_look[ids[1]]) == 2
    assert not any(s["trial"] == ids[2] and s["epoch"] >= 1 for s in seen)  # decided already: not asked again
    assert all(math.isfinite(v) for curve in first_look.values() for v in curve.values())


def test_a_custom_oracle_instance_prunes_too(tmp_path, wandb_env, digits):
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_loss", "min"), max_trials=2, seed=3)
    tuner = WandbTuner(build, oracle=oracle, pruner=PruneTrials({1}, epoch=0), directory=str(tmp_path / "s"),
                       project_name="p", overwrite=True)
    search(tuner, digits, epochs=3)
    frame = results_frame(tuner.project_dir).sort_values("trial_id")
    assert list(frame.status) == ["COMPLETED", "PRUNED"] and list(frame.pruned_at_epoch.dropna()) == [0]


class FitsItsOwnEpochs(kt.HyperModel):
    """A hypermodel whose own fit chooses the epochs, whatever search() was given."""

    def build(self, hp):
        return build(hp)

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, **{**kwargs, "epochs": 2})


@pytest.mark.parametrize("how", ["Keras's default", "the hypermodel's fit"])
def test_a_trial_that_trained_its_whole_fit_is_never_labelled_pruned(tmp_path, wandb_env, digits, how):
    # The last epoch comes from the fit itself: search() given no epochs= (Keras trains 1), or a hypermodel whose
    # fit sets its own. A pruner asked at the last epoch would "prune" a trial that has nothing left to train.
    hypermodel, epochs = (build, None) if how == "Keras's default" else (FitsItsOwnEpochs(), 5)
    tuner = WandbTuner(hypermodel, objective="val_accuracy", oracle="grid", max_trials=2, directory=str(tmp_path),
                       project_name="p", pruner=PruneTrials({0, 1}, epoch=0 if epochs is None else 1))
    tuner.search(*digits, validation_split=0.25, verbose=0, **({} if epochs is None else {"epochs": epochs}))
    frame = results_frame(tuner.project_dir)
    assert list(frame.status) == ["COMPLETED", "COMPLETED"] and "pruned_at_epoch" not in frame
    assert all(len(curve) == (1 if epochs is None else 2) for r in frame.trial_id
               for curve in json.loads(Path(tuner.get_trial_dir(r), "wandb_run.json").read_text())["history"])


def test_a_worker_whose_chief_does_not_prune_stops_the_search_with_the_fix(tmp_path):
    from kt_wandb.tuners._pruning import report_epoch

    # What a worker's epoch report gets from a chief made without `pruner=`: KerasTuner's plain update_trial.
    chief = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_loss", "min"), max_trials=1, seed=0)
    chief._set_project_dir(str(tmp_path), "p")
    chief.hyperparameters.Int("units", 1, 4)
    trial = chief.create_trial("worker0")
    with pytest.raises(kt.errors.FatalError, match="Expected the chief to take each epoch's report, as this worker"):
        report_epoch(chief, trial.trial_id, chief.objective, part=0, epoch=0, logs={"val_loss": 0.5})


class Recording(Pruner):
    """Stops nothing; notes each question, and every trial's curve of that part as it was asked."""

    def __init__(self):
        self.asked = []

    def prune(self, trial_id, epoch, curves):
        self.asked.append((trial_id, epoch, {t: dict(c) for t, c in curves.values.items()}))
        return False


def pruning_oracle(tmp_path, pruner):
    from kt_wandb.tuners._pruning import enable_pruning

    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_loss", "min"), max_trials=3, seed=0)
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.hyperparameters.Int("units", 1, 4)
    enable_pruning(oracle, pruner)
    return oracle


def test_an_epoch_without_a_finite_objective_or_at_the_trials_end_is_not_judged(tmp_path):
    from kt_wandb.tuners._pruning import report_epoch

    pruner = Recording()
    oracle = pruning_oracle(tmp_path, pruner)
    trial = oracle.create_trial("tuner0")
    report = dict(oracle=oracle, trial_id=trial.trial_id, objective=oracle.objective, part=0)
    assert not report_epoch(**report, epoch=0, logs={"val_loss": float("nan")})  # nothing to judge it by
    assert not report_epoch(**report, epoch=1, logs={"val_loss": 0.5})
    assert not report_epoch(**report, epoch=2, logs={"val_loss": 0.4}, last=True)  # it ends there anyway
    assert [(t, e) for t, e, _ in pruner.asked] == [(trial.trial_id, 1)]
    saved = json.loads(Path(oracle._get_trial_dir(trial.trial_id), "pruning.json").read_text())
    assert saved["curves"] == {"0": {"1": 0.5, "2": 0.4}}  # the last epoch is kept, for the others' judging


def test_a_new_attempt_at_a_trial_forgets_what_the_one_before_reported_from_there_on(tmp_path):
    from kt_wandb.tuners._pruning import report_epoch

    pruner = Recording()
    oracle = pruning_oracle(tmp_path, pruner)
    trial = oracle.create_trial("tuner0")
    report = dict(oracle=oracle, trial_id=trial.trial_id, objective=oracle.objective)
    for part in (0, 1):  # the first attempt: two executions of two epochs, then it crashed
        for epoch in (0, 1):
            report_epoch(**report, part=part, epoch=epoch, logs={"val_loss": 1.0 + part})
    report_epoch(**report, part=0, epoch=0, logs={"val_loss": 0.9})  # the retry starts over
    report_epoch(**report, part=0, epoch=1, logs={"val_loss": 0.8})
    saved = json.loads(Path(oracle._get_trial_dir(trial.trial_id), "pruning.json").read_text())
    assert saved["curves"] == {"0": {"0": 0.9, "1": 0.8}}  # the crashed attempt's second execution is gone
    assert pruner.asked[-1][2] == {trial.trial_id: {0: 0.9, 1: 0.8}}
