"""`WandbTuner` as a drop-in `kt.Tuner`: each scenario runs against KerasTuner's class and against `WandbTuner`.

Written from KerasTuner 1.4's documented behaviour. Deliberate differences, one line each where they show:
the oracle is named by a string (`oracle="random"`) rather than chosen by class; W&B's own arguments exist
(here `wandb_mode="disabled"`); a trial whose loss diverged before any finite objective fails without counting
toward `max_consecutive_failed_trials` (see `test_faults.py`).
"""

from __future__ import annotations

import re
from typing import Any

import keras
import keras_tuner as kt
import numpy as np
import pytest

from kt_wandb import WandbTuner

KINDS = ["keras_tuner", "kt_wandb"]
KT_CLASSES = {
    "random": kt.RandomSearch, "hyperband": kt.Hyperband, "bayesian": kt.BayesianOptimization, "grid": kt.GridSearch,
}


def make(kind: str, tmp_path, hypermodel: Any = None, *, oracle: str = "random", cls: type | None = None,
         **kwargs: Any) -> kt.Tuner:
    """The same tuner from KerasTuner or from kt-wandb: the oracle by class there, by name here."""
    kwargs.setdefault("objective", "val_accuracy")
    kwargs.setdefault("directory", str(tmp_path / kind))
    kwargs.setdefault("project_name", "contract")
    if oracle != "hyperband":
        kwargs.setdefault("max_trials", 2)
    if kind == "keras_tuner":
        return (cls or KT_CLASSES[oracle])(hypermodel, **kwargs)
    if cls is not None:  # a subclass of kt.Tuner in KerasTuner: here a subclass of WandbTuner
        return cls(hypermodel, oracle=oracle, wandb_mode="disabled", **kwargs)
    return WandbTuner(hypermodel, oracle=oracle, wandb_mode="disabled", **kwargs)


def fit(tuner: kt.Tuner, digits, **kwargs: Any) -> None:
    kwargs.setdefault("epochs", 1)
    kwargs.setdefault("verbose", 0)
    tuner.search(*digits, validation_split=0.25, **kwargs)


def built(call) -> str:
    """What building a tuner did: its objective's name, or the exception's kind."""
    try:
        tuner = call()
    except Exception as exc:
        return "ValueError" if isinstance(exc, ValueError) else type(exc).__name__
    return f"objective {tuner.oracle.objective.name}"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"hypermodel": None}, "ValueError"),
        ({"unrecognized": 3}, "ValueError"),
        ({"objective": 3}, "TypeError"),
        ({"objective": None}, "objective default_objective"),
        ({"objective": kt.Objective("score", "max")}, "objective score"),
        ({"objective": ["val_loss", "loss"]}, "objective multi_objective"),
        ({"max_model_size": 10}, "objective val_accuracy"),
    ],
    ids=["no hypermodel", "unknown argument", "objective 3", "no objective", "Objective", "two objectives",
         "max_model_size"],
)
def test_construction_checks(tmp_path, tiny_model, arguments, expected):
    results = {}
    for kind in KINDS:
        args = {"hypermodel": tiny_model, **arguments}
        hypermodel = args.pop("hypermodel")
        results[kind] = built(lambda kind=kind, hypermodel=hypermodel, args=args: make(
            kind, tmp_path / "construction", hypermodel, **args))
    assert results == {"keras_tuner": expected, "kt_wandb": expected}


@pytest.mark.parametrize("oracle", ["random", "bayesian", "grid", "hyperband"])
def test_search_under_each_oracle_visits_the_same_trials(tmp_path, tiny_model, digits, oracle):
    extra = {"max_epochs": 2, "factor": 2} if oracle == "hyperband" else {}
    visited = {}
    for kind in KINDS:
        tuner = make(kind, tmp_path, tiny_model, oracle=oracle, seed=3, **extra)
        fit(tuner, digits, epochs=2)
        trials = [tuner.oracle.trials[t] for t in sorted(tuner.oracle.trials)]
        visited[kind] = [(t.status, {k: v for k, v in t.hyperparameters.values.items() if k != "tuner/trial_id"})
                         for t in trials]
    assert visited["kt_wandb"] == visited["keras_tuner"] and visited["keras_tuner"]


def test_verbose_0_prints_nothing_and_summaries_match(tmp_path, tiny_model, digits, capsys):
    said = {}
    for kind in KINDS:
        tuner = make(kind, tmp_path, tiny_model, seed=1)
        capsys.readouterr()
        fit(tuner, digits)
        silent = capsys.readouterr().out
        tuner.search_space_summary()
        space = capsys.readouterr().out
        tuner.results_summary(num_trials=1)
        summary = capsys.readouterr().out.replace(str(tmp_path / kind), "<dir>")
        said[kind] = (silent, space, summary.splitlines()[:3])
    assert said["keras_tuner"][0] == said["kt_wandb"][0] == ""
    assert "units" in said["keras_tuner"][1] and said["kt_wandb"][1] == said["keras_tuner"][1]  # the same space
    assert said["keras_tuner"][2][0] == "Results summary"
    assert said["kt_wandb"][2] == said["keras_tuner"][2]  # "Results summary", the directory, the objective


def test_overwrite_and_reload_and_the_best_models(tmp_path, tiny_model, digits):
    for kind in KINDS:
        first = make(kind, tmp_path, tiny_model, seed=2, overwrite=True)
        fit(first, digits)
        scores = {t.trial_id: (t.score, t.hyperparameters.values) for t in first.oracle.trials.values()}
        reloaded = make(kind, tmp_path, tiny_model, seed=2, overwrite=False)
        assert {t.trial_id: (t.score, t.hyperparameters.values) for t in reloaded.oracle.trials.values()} == scores
        # The best score, not the best trial: with 75 validation examples two trials can tie, and KerasTuner
        # breaks a tie by the order it read the trials in, which a reload needn't keep.
        assert reloaded.oracle.get_best_trials(1)[0].score == first.oracle.get_best_trials(1)[0].score, kind
        models = reloaded.get_best_models(2)
        assert len(models) == 2 and all(isinstance(m, keras.Model) for m in models), kind
        fresh = make(kind, tmp_path, tiny_model, seed=2, overwrite=True)
        assert fresh.oracle.trials == {}, kind


def test_failed_trials_are_retried_and_stop_the_search_after_the_limit(tmp_path, tiny_model, digits):
    class Breaks(kt.HyperModel):
        def build(self, hp):
            return tiny_model(hp)

        def fit(self, hp, model, *args, **kwargs):
            raise OSError("the data source went away")

    runs = {}
    for kind in KINDS:
        tuner = make(kind, tmp_path, Breaks(), max_trials=6, max_retries_per_trial=1, max_consecutive_failed_trials=2)
        with pytest.raises(RuntimeError, match="Number of consecutive failures exceeded the limit of 2"):
            fit(tuner, digits)
        runs[kind] = sorted((t.trial_id, t.status) for t in tuner.oracle.trials.values())
    assert runs["kt_wandb"] == runs["keras_tuner"]


def _scores(kind: str, tmp_path, digits, returns: str) -> list[float]:
    base = kt.Tuner if kind == "keras_tuner" else WandbTuner

    class OwnLoop(base):  # type: ignore[valid-type, misc]
        def run_trial(self, trial, x, y, **kwargs):
            hp = trial.hyperparameters
            units = hp.Int("units", 4, 16, step=4)
            model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(units),
                                      keras.layers.Dense(10, activation="softmax")])
            model.compile("adam", "sparse_categorical_crossentropy")
            history = model.fit(x, y, epochs=1, verbose=0)
            history.history["score"] = [float(units)]
            return {"float": float(units), "dict": {"score": float(units)}, "history": history,
                    "list": [{"score": float(units)}, {"score": float(units) + 2}]}[returns]

    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("score", "max"), max_trials=2, seed=5)
    if kind == "keras_tuner":
        tuner = OwnLoop(oracle=oracle, directory=str(tmp_path / kind / returns), project_name="own")
    else:  # an oracle instance is taken as KerasTuner takes it
        tuner = OwnLoop(oracle=oracle, wandb_mode="disabled", directory=str(tmp_path / kind / returns),
                        project_name="own")
    tuner.search(*digits)
    return [tuner.oracle.trials[t].score for t in sorted(tuner.oracle.trials)]


@pytest.mark.parametrize("returns", ["float", "dict", "history", "list"])
def test_a_subclass_running_its_own_trials(tmp_path, digits, returns):
    scores = {kind: _scores(kind, tmp_path, digits, returns) for kind in KINDS}
    assert scores["kt_wandb"] == scores["keras_tuner"] and len(scores["keras_tuner"]) == 2


def test_executions_per_trial_and_max_model_size(tmp_path, tiny_model, digits):
    fits: dict[str, int] = {}

    class Count(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            fits[self.kind] = fits.get(self.kind, 0) + 1

    for kind in KINDS:
        counter = Count()
        counter.kind = kind
        fit(make(kind, tmp_path / "executions", tiny_model, max_trials=1, executions_per_trial=2), digits,
            callbacks=[counter])
    assert fits == {"keras_tuner": 2, "kt_wandb": 2}
    statuses = {}
    for kind in KINDS:
        tuner = make(kind, tmp_path / "size", tiny_model, max_model_size=10)
        fit(tuner, digits)
        statuses[kind] = sorted(t.status for t in tuner.oracle.trials.values())
    assert statuses["kt_wandb"] == statuses["keras_tuner"]
    assert np.all([s != "COMPLETED" for s in statuses["keras_tuner"]])


def report_shape(out: str) -> list[str]:
    """What a search printed, line by line as a terminal leaves it, with its numbers and timings as N and T.

    Keras rewrites its progress bar in place (carriage returns, backspaces, colours), as often as time allows:
    each line's last rewrite is kept. Scores, timings and hyperparameter values vary from run to run; the
    lines, their order and their words must not.
    """
    shape = []
    for line in out.split("\n"):
        line = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line).split("\r")[-1].replace("\b", "")
        line = re.sub(r"\b\d+(?:\.\d+)?(?:ms|us|s)\b", "T", line)  # 1s, 25ms/step
        line = re.sub(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", "N", line)
        shape.append(" ".join(line.split()))
    return shape


def test_verbose_1_reports_the_trials_as_keras_tuner_does(tmp_path, tiny_model, digits, capsys):
    said, shapes = {}, {}
    for kind in KINDS:
        tuner = make(kind, tmp_path, tiny_model, seed=1)
        capsys.readouterr()
        fit(tuner, digits, verbose=1)
        out = capsys.readouterr().out
        lines = out.splitlines()
        # KerasTuner's own progress: which trial, its hyperparameters, its score, the best so far (timings vary).
        progress = [line for line in lines if line.startswith(("Trial ", "Best val_accuracy"))]
        said[kind] = [re.sub(r"\[.*\]|[\d.]+$", "", line).strip() for line in progress]  # timings and scores vary
        shapes[kind] = report_shape(out)
    assert said["keras_tuner"] == ["Trial 1 Complete", "Best val_accuracy So Far:", "Trial 2 Complete",
                                   "Best val_accuracy So Far:"]
    assert said["kt_wandb"] == said["keras_tuner"]
    # The whole report, line for line: the hyperparameters' table, Keras's progress, the score, the timings,
    # and nothing more (no line of kt-wandb's own in between).
    assert shapes["kt_wandb"] == shapes["keras_tuner"]
    assert shapes["keras_tuner"].count("Value |Best Value So Far |Hyperparameter") == 2
    assert shapes["keras_tuner"].count("N |N |units") == 2 and "Total elapsed time: Nh Nm T" in shapes["keras_tuner"]


class HoldsALock(keras.callbacks.Callback):
    """A callback that can't be deep-copied (KerasTuner copies the callbacks for each trial)."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.lock = threading.Lock()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("case", "error", "words"),
    [
        ("hypermodel=None", ValueError, "Received `hypermodel=None`."),
        ("an unknown argument", ValueError, "Unrecognized arguments ['bogus']"),
        ("a callback that can't be copied", kt.errors.FatalValueError,
         "All callbacks used during a search should be deep-copyable"),
    ],
)
def test_errors_keras_tuner_raises_carry_its_type_and_words(tmp_path, digits, tiny_model, kind, case, error, words):
    # Code written against KerasTuner catches and matches these; kt-wandb says how to fix after them.
    with pytest.raises(error) as raised:
        if case == "hypermodel=None":
            make(kind, tmp_path, None)
        elif case == "an unknown argument":
            make(kind, tmp_path, tiny_model, bogus=1)
        else:
            tuner = make(kind, tmp_path, tiny_model)
            fit(tuner, digits, callbacks=[HoldsALock()])
    assert str(raised.value).startswith(words) or words in str(raised.value)
    if kind == "kt_wandb":
        assert "To fix," in str(raised.value)
    if case.startswith("a callback") and kind == "kt_wandb":
        assert not tuner.oracle.trials  # refused before the first trial
