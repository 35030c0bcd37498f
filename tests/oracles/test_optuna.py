"""`OptunaOracle` and `oracle="tpe"`: real Optuna, real KerasTuner, real wandb offline, tiny data."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from kt_wandb import OptunaOracle, Pruner, WandbTuner
from kt_wandb._records import PRUNING_RECORD
from kt_wandb.analysis import results_frame
from kt_wandb.oracles._space import dimension
from kt_wandb.tuners._oracles import oracle_name
from tests.helpers.environment import CHILD_SEARCH, child_env, kill_then_resume
from tests.helpers.wandb_log import read_runs

HP = kt.engine.hyperparameters
SCRIPT = Path(__file__).parents[1] / "tuners" / "distributed_search.py"


@pytest.mark.parametrize(
    ("hp", "distribution"),
    [
        (HP.Int("a", 8, 64, step=8), IntDistribution(8, 64, step=8)),
        (HP.Int("a", 1, 10), IntDistribution(1, 10)),
        (HP.Int("a", 1, 1000, sampling="log"), IntDistribution(1, 1000, log=True)),
        (HP.Int("a", 32, 512, step=2, sampling="log"), IntDistribution(0, 4)),  # 32, 64, 128, 256, 512: exponents
        (HP.Float("a", 0.0, 1.0), FloatDistribution(0.0, 1.0)),
        (HP.Float("a", 0.0, 1.0, step=0.25), FloatDistribution(0.0, 1.0, step=0.25)),
        (HP.Float("a", 1e-4, 1e-1, sampling="log"), FloatDistribution(1e-4, 1e-1, log=True)),
        (HP.Float("a", 0.9, 0.999, sampling="reverse_log"), FloatDistribution(0.9, 0.999, log=True)),
        (HP.Choice("a", [16, 32, 64]), IntDistribution(0, 2)),  # numbers: ordered, by index
        (HP.Choice("a", ["relu", "tanh"]), CategoricalDistribution(["relu", "tanh"])),
        (HP.Choice("a", [1, 2], ordered=False), CategoricalDistribution([1, 2])),
        (HP.Boolean("a"), CategoricalDistribution([False, True])),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_each_hyperparameter_maps_to_its_distribution_and_its_values_both_ways(hp, distribution):
    dim = dimension(hp)
    assert dim is not None and dim.distribution == distribution
    gridded = getattr(hp, "step", None) is not None or not isinstance(hp, (HP.Int, HP.Float))
    values = list(hp.values) if gridded else [hp.default, hp.max_value]
    for value in values:  # every value on KerasTuner's grid comes back as itself
        inner = dim.encode(value)
        assert distribution._contains(distribution.to_internal_repr(inner))
        assert dim.decode(inner) == pytest.approx(value)
    if isinstance(hp, HP.Int) and hp.sampling == "log" and hp.step:
        assert [dim.decode(i) for i in range(5)] == [32, 64, 128, 256, 512]


def test_a_fixed_hyperparameter_is_not_searched():
    assert dimension(HP.Fixed("a", 3)) is None


def test_reverse_log_is_dense_near_its_maximum_as_kerastuner_samples_it():
    dim = dimension(HP.Float("beta", 0.9, 0.999, sampling="reverse_log"))
    assert dim is not None
    draws = [dim.decode(u) for u in np.geomspace(0.9, 0.999, 101)]
    assert min(draws) >= 0.9 and max(draws) <= 0.999 + 1e-12
    assert np.median(draws) > (0.9 + 0.999) / 2  # more of the mass near the maximum


def _conditional_space() -> kt.HyperParameters:
    hp = kt.HyperParameters()
    hp.Choice("model", ["linear", "mlp"])
    with hp.conditional_scope("model", ["mlp"]):
        hp.Int("units", 8, 64, step=8)
        hp.Float("dropout", 0.0, 0.5, step=0.1)
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Fixed("epochs", 2)
    return hp


def _oracle(tmp_path: Path, sampler="tpe", max_trials: int = 30, objective=None, hp=None, **kwargs) -> OptunaOracle:
    oracle = OptunaOracle(sampler, objective=objective or kt.Objective("loss", "min"), max_trials=max_trials,
                          hyperparameters=hp if hp is not None else _conditional_space(), seed=1, **kwargs)
    oracle._set_project_dir(str(tmp_path), "search")
    return oracle


def _loss(values: dict) -> float:
    return (math.log10(values["lr"]) + 2) ** 2 + (values.get("units", 0) / 64 if values["model"] == "mlp" else 0.5)


def _run(oracle: OptunaOracle, trials: int, status=lambda i: "COMPLETED") -> list:
    ended = []
    for i in range(trials):
        trial = oracle.create_trial("tuner0")
        if trial.status != "RUNNING":
            break
        oracle.update_trial(trial.trial_id, {"loss": _loss(trial.hyperparameters.values)})
        trial.status = status(i)
        oracle.end_trial(trial)
        ended.append(oracle.trials[trial.trial_id])
    return ended


def test_an_inactive_hyperparameter_is_not_asked_for_nor_in_the_trials_values(tmp_path):
    oracle = _oracle(tmp_path)
    trials = _run(oracle, 16)
    study = oracle.study
    kinds = {t.hyperparameters.values["model"] for t in trials}
    assert kinds == {"linear", "mlp"}
    for trial, frozen in zip(trials, study.trials, strict=True):
        values = trial.hyperparameters.values
        active = values["model"] == "mlp"
        assert ("units" in values) is active and ("units" in frozen.params) is active
        assert ("dropout" in frozen.params) is active
        assert values["epochs"] == 2 and "epochs" not in frozen.params  # fixed: in the values, never asked
        assert frozen.params["lr"] == values["lr"]
        if active:  # the step is honoured, and the study holds KerasTuner's value
            assert values["units"] % 8 == 0 and frozen.params["units"] == values["units"]
            assert round(values["dropout"] * 10) == pytest.approx(values["dropout"] * 10)
    assert all(1e-4 <= t.hyperparameters.values["lr"] <= 1e-1 for t in trials)


def test_tpe_is_the_sampler_and_every_trial_is_told_its_score(tmp_path):
    oracle = _oracle(tmp_path)
    trials = _run(oracle, 25)
    sampler = oracle.study.sampler
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._multivariate and sampler._constant_liar and sampler._group
    assert oracle.study.direction == optuna.study.StudyDirection.MINIMIZE
    assert [t.state for t in oracle.study.trials] == [TrialState.COMPLETE] * 25
    assert [t.value for t in oracle.study.trials] == [t.score for t in trials]
    # TPE learns: after its 10 random startup trials, its proposals beat the random ones.
    losses = [t.score for t in trials]
    assert np.median(losses[15:]) < np.median(losses[:10])


def test_the_seed_seeds_the_sampler(tmp_path):
    first = [t.hyperparameters.values for t in _run(_oracle(tmp_path / "a"), 12)]
    second = [t.hyperparameters.values for t in _run(_oracle(tmp_path / "b"), 12)]
    assert first == second


def test_a_failed_trial_is_told_fail_and_a_running_one_is_held_out_by_the_constant_liar(tmp_path):
    oracle = _oracle(tmp_path)
    _run(oracle, 3, status=lambda i: "FAILED" if i == 1 else "COMPLETED")
    running = oracle.create_trial("tuner1")
    states = [t.state for t in oracle.study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE, TrialState.RUNNING]
    assert oracle.study.trials[3].params["lr"] == running.hyperparameters.values["lr"]


def test_a_second_oracle_on_the_same_directory_rebuilds_the_study_from_the_trials_files(tmp_path):
    oracle = _oracle(tmp_path)
    _run(oracle, 5, status=lambda i: "FAILED" if i == 2 else "COMPLETED")
    oracle.observe_epoch(oracle.create_trial("tuner0").trial_id, 0, 0.9, False)  # killed while it runs: never ends
    oracle.pruned.add("03")  # as the pruner would have decided trial 3
    oracle.intermediate["03"] = {0: 3.0, 1: 2.5}
    oracle.save()

    resumed = _oracle(tmp_path)
    resumed.reload()
    study = resumed.study
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2 + [TrialState.FAIL, TrialState.PRUNED,
                                                                           TrialState.COMPLETE]
    assert study.trials[3].intermediate_values == {0: 3.0, 1: 2.5} and study.trials[3].value == 2.5
    assert study.trials[0].value == oracle.trials["00"].score
    assert study.trials[4].params["lr"] == oracle.trials["04"].hyperparameters.values["lr"]
    # The killed trial is run again first, and told once it ends, as a trial the study did not ask.
    retried = resumed.create_trial("tuner0")
    assert retried.trial_id == "05"
    resumed.update_trial("05", {"loss": 1.0})
    retried.status = "COMPLETED"
    resumed.end_trial(retried)
    assert len(study.trials) == 6 and study.trials[5].value == 1.0 and study.trials[5].intermediate_values == {0: 0.9}
    assert resumed.create_trial("tuner0").trial_id == "06" and study.trials[6].state == TrialState.RUNNING


def test_several_objectives_use_optunas_multi_objective_sampling(tmp_path):
    hp = kt.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = _oracle(tmp_path, objective=[kt.Objective("a", "min"), kt.Objective("b", "max")], hp=hp)
    for _ in range(4):
        trial = oracle.create_trial("t")
        x = trial.hyperparameters.values["x"]
        metrics = {"a": x, "b": x * x}
        oracle.update_trial(trial.trial_id, {**metrics, "multi_objective": oracle.objective.get_value(metrics)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    study = oracle.study
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE, optuna.study.StudyDirection.MAXIMIZE]
    assert [t.values for t in study.trials] == [[t.params["x"], t.params["x"] ** 2] for t in study.trials]
    with pytest.raises(ValueError, match=r"Expected one objective with oracle=\"cmaes\", received 2.*To fix"):
        _oracle(tmp_path, "cmaes", objective=[kt.Objective("a", "min"), kt.Objective("b", "max")], hp=hp)


def test_cmaes_and_any_optuna_sampler_instance(tmp_path):
    hp = kt.HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Choice("model", ["linear", "mlp"])
    cmaes = _oracle(tmp_path / "c", "cmaes", hp=hp)
    assert isinstance(cmaes.sampler, optuna.samplers.CmaEsSampler) and cmaes.name == "cmaes"
    assert len(_run(cmaes, 4)) == 4
    given = optuna.samplers.RandomSampler(seed=0)
    other = _oracle(tmp_path / "q", given, hp=hp)
    assert other.sampler is given and oracle_name(other) == "RandomSampler"
    with pytest.raises(ValueError, match=r"Expected `sampler` to be one of .*received 'tpee'.*To fix"):
        _oracle(tmp_path, "tpee")


def test_without_optuna_or_torch_the_oracle_fails_at_once_with_the_install_line(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    missing = {"optuna"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in missing else real(name, *a))
    with pytest.raises(ImportError, match=r"Expected optuna installed .*without optuna.*To fix, run: "
                                          r"pip install 'kt-wandb\[optuna\]'$"):
        WandbTuner(lambda hp: None, objective="val_loss", oracle="tpe", directory=str(tmp_path))
    missing = {"torch"}
    with pytest.raises(ImportError, match=r"Expected torch .*oracle='gp'.*pip install 'kt-wandb\[optuna\]' torch"):
        WandbTuner(lambda hp: None, objective="val_loss", oracle="gp", directory=str(tmp_path))


def test_gp_works_where_torch_is_installed(tmp_path):
    pytest.importorskip("torch")
    oracle = _oracle(tmp_path, "gp")
    assert isinstance(oracle.sampler, optuna.samplers.GPSampler)
    assert len(_run(oracle, 12)) == 12


def test_a_plain_kerastuner_tuner_searches_with_it(tmp_path):
    class Search(kt.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            return {"loss": _loss(trial.hyperparameters.values)}

    oracle = OptunaOracle("tpe", objective=kt.Objective("loss", "min"), max_trials=12,
                          hyperparameters=_conditional_space(), seed=3)
    tuner = Search(oracle=oracle, directory=str(tmp_path), project_name="plain")
    tuner.search(verbose=0)
    assert len(oracle.study.trials) == 12 and all(t.state == TrialState.COMPLETE for t in oracle.study.trials)
    best = tuner.get_best_hyperparameters()[0].values
    assert _loss(best) == pytest.approx(oracle.study.best_value)


# -- through WandbTuner: a Keras search, W&B runs, pruning ----------------------------------------------------


def build(hp):
    model = keras.Sequential([keras.Input((64,))])
    if hp.Boolean("hidden"):
        with hp.conditional_scope("hidden", [True]):
            model.add(keras.layers.Dense(hp.Int("units", 8, 32, step=8), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 3e-2, sampling="log")),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class PruneTrials(Pruner):
    def __init__(self, indices):
        self.indices = set(indices)

    def prune(self, trial_id, epoch, curves):
        return int(trial_id) in self.indices and epoch >= 1


def _tuner(tmp_path: Path, **kwargs) -> WandbTuner:
    return WandbTuner(build, objective="val_accuracy", oracle="tpe", seed=2, directory=str(tmp_path / "search"),
                      project_name="p", **{"max_trials": 4, "overwrite": True, **kwargs})


def _search(tuner: WandbTuner, digits, epochs: int) -> None:
    x, y = digits
    tuner.search(x, y, epochs=epochs, validation_split=0.25, verbose=0)


def test_a_keras_search_with_tpe_is_one_run_per_trial_and_prunes_as_optuna_intends(tmp_path, wandb_env, digits):
    tuner = _tuner(tmp_path, pruner=PruneTrials({2}))
    _search(tuner, digits, epochs=3)
    oracle = tuner.oracle
    assert isinstance(oracle, OptunaOracle) and tuner.oracle_name == "tpe"
    study = oracle.study
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2 + [TrialState.PRUNED, TrialState.COMPLETE]
    # KerasTuner builds the hypermodel once before the first trial, so the study asks for its space from the first.
    assert all("learning_rate" in t.params and "hidden" in t.params for t in study.trials)
    runs = read_runs(wandb_env)
    frame = results_frame(tuner.project_dir).set_index("trial_id")
    for number, frozen in enumerate(study.trials):
        trial_id = f"{number}"
        trial = oracle.trials[trial_id]
        run = runs[f"{tuner.search_id}-{trial_id}"]
        curve = [row["epoch/val_accuracy"] for row in run.history]
        assert "tpe" in run.tags
        assert frozen.intermediate_values == pytest.approx(dict(enumerate(curve)))  # each epoch, as reported
        if frozen.state == TrialState.COMPLETE:
            assert frozen.value == pytest.approx(trial.score) and len(curve) == 3
        else:  # pruned after epoch 1: PRUNED in the study, as in the results; KerasTuner completed it
            assert len(curve) == 2 and trial.status == "COMPLETED" and frame.loc[trial_id, "status"] == "PRUNED"
        hidden = trial.hyperparameters.values["hidden"]
        if not hidden:  # inactive: neither asked for nor logged
            assert "units" not in run.config and "units" not in frozen.params

    resumed = _tuner(tmp_path, pruner=PruneTrials(set()), max_trials=6, overwrite=False)
    assert [t.state for t in resumed.oracle.study.trials] == [t.state for t in study.trials]
    assert resumed.oracle.study.trials[2].intermediate_values == study.trials[2].intermediate_values
    _search(resumed, digits, epochs=2)
    assert len(resumed.oracle.study.trials) == 6
    assert [t.state for t in resumed.oracle.study.trials[4:]] == [TrialState.COMPLETE] * 2


def test_without_a_pruner_each_epochs_objective_still_reaches_the_study(tmp_path, wandb_env, digits):
    tuner = _tuner(tmp_path, max_trials=2)
    _search(tuner, digits, epochs=2)
    assert tuner.pruner is None  # as given: the reports go to the oracle all the same
    runs = read_runs(wandb_env)
    for number, frozen in enumerate(tuner.oracle.study.trials):
        curve = [row["epoch/val_accuracy"] for row in runs[f"{tuner.search_id}-{number}"].history]
        assert frozen.state == TrialState.COMPLETE and len(curve) == 2
        assert frozen.intermediate_values == pytest.approx(dict(enumerate(curve)))  # Optuna's `trial.report`
    assert set(results_frame(tuner.project_dir).status) == {"COMPLETED"}  # reported, never pruned


def test_the_command_line_searches_with_tpe(tmp_path):
    from kt_wandb.cli import _parser

    assert _parser().parse_args(["search", "--oracle", "tpe"]).oracle == "tpe"


@pytest.mark.slow
def test_a_chief_and_two_workers_search_with_tpe(tmp_path, wandb_env):
    command = [
        sys.executable, "-m", "kt_wandb.cli", "launch", "--workers", "2", "--gpus", "none", "--",
        sys.executable, str(SCRIPT), str(tmp_path / "search"), "6",
    ]
    done = subprocess.run(command, env=child_env(TRIAL_SLEEP="1", ORACLE="tpe"), capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "[chief] done as chief: 6 trials, 6 completed" in done.stdout
    project = tmp_path / "search" / "search"
    state = json.loads((project / "oracle.json").read_text())
    assert "optuna" in state  # the chief's oracle was Optuna's
    runs = read_runs(wandb_env)
    assert len(runs) == 6 and all("tpe" in run.tags for run in runs.values())
    workers = {tag for run in runs.values() for tag in run.tags if tag.startswith("worker:")}
    assert workers == {"worker:worker0", "worker:worker1"}
    trials = [json.loads(p.read_text()) for p in project.glob("trial_*/trial.json")]
    assert len(trials) == 6 and all(t["status"] == "COMPLETED" for t in trials)


KILLED_SEARCH = textwrap.dedent(
    """
    import json, os, pathlib, signal, sys
    import keras
    from sklearn.datasets import load_digits
    from kt_wandb import Pruner, WandbTuner

    root, stage = pathlib.Path(sys.argv[1]), sys.argv[2]

    class PruneTrialOne(Pruner):
        def prune(self, trial_id, epoch, curves):
            return stage == "first" and int(trial_id) == 1 and epoch >= 1

    class KillInThirdTrial(keras.callbacks.Callback):
        fits = 0

        def on_train_begin(self, logs=None):
            KillInThirdTrial.fits += 1

        def on_epoch_end(self, epoch, logs=None):
            if stage == "first" and KillInThirdTrial.fits == 3:
                os.kill(os.getpid(), signal.SIGKILL)
    """
) + CHILD_SEARCH + textwrap.dedent(
    """
    tuner = WandbTuner(build, objective="val_accuracy", oracle="tpe", seed=4, pruner=PruneTrialOne(),
                       max_trials=3 if stage == "first" else 5, directory=str(root), project_name="p")
    if stage == "second":  # what the resumed study was rebuilt with, before it runs anything
        before = [[t.state.name, t.value, t.intermediate_values] for t in tuner.oracle.study.trials]
    tuner.search(x, y, epochs=3, validation_split=0.25, verbose=0, callbacks=[KillInThirdTrial()])
    after = [[t.state.name, t.value] for t in tuner.oracle.study.trials]
    scores = {i: t.score for i, t in tuner.oracle.trials.items()}
    (root / "study.json").write_text(json.dumps({"before": before, "after": after, "scores": scores}))
    """
)


@pytest.mark.slow
def test_a_search_killed_mid_trial_resumes_with_the_study_rebuilt_from_every_trial_before(tmp_path, wandb_env):
    script, root = tmp_path / "search.py", tmp_path / "search"
    script.write_text(KILLED_SEARCH)

    kill_then_resume(script, root)
    study = json.loads((root / "study.json").read_text())
    scores = study["scores"]
    # Rebuilt from the files: trial 0 completed with its score, trial 1 pruned with its two epochs; trial 2 was
    # killed while it ran, so it is not in the study until it runs again.
    (state0, value0, _), (state1, _, curve1) = study["before"]
    assert len(study["before"]) == 2 and state0 == "COMPLETE" and value0 == pytest.approx(scores["0"])
    assert state1 == "PRUNED" and sorted(curve1) == ["0", "1"]
    # Then trial 2 again (told as a trial the rebuilt study never asked), and the two new ones.
    assert [state for state, _ in study["after"]] == ["COMPLETE", "PRUNED", "COMPLETE", "COMPLETE", "COMPLETE"]
    assert study["after"][2][1] == pytest.approx(scores["2"]) and len(scores) == 5
    assert results_frame(root / "p").set_index("trial_id").status.to_dict() == {
        "0": "COMPLETED", "1": "PRUNED", "2": "COMPLETED", "3": "COMPLETED", "4": "COMPLETED"}


def test_a_keras_search_on_two_objectives_tells_the_study_both(tmp_path, wandb_env, digits):
    objectives = [kt.Objective("val_loss", "min"), kt.Objective("val_accuracy", "max")]
    tuner = WandbTuner(build, objective=objectives, oracle="tpe", seed=2, max_trials=2, overwrite=True,
                       directory=str(tmp_path / "search"), project_name="p")
    _search(tuner, digits, epochs=1)
    study = tuner.oracle.study
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE, optuna.study.StudyDirection.MAXIMIZE]
    for frozen, trial in zip(study.trials, tuner.oracle.trials.values(), strict=True):
        assert frozen.values == pytest.approx([trial.metrics.get_best_value("val_loss"),
                                               trial.metrics.get_best_value("val_accuracy")])
    assert len(study.best_trials) >= 1  # the Pareto front
    # Optuna's `report` takes one objective: with two, no epoch is reported (nor its record written).
    assert not tuner.oracle.takes_epochs and not list(Path(tuner.project_dir).glob(f"trial_*/{PRUNING_RECORD}"))
