"""Bad input: refused before any training, with what was expected, what came, and how to fix it."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from kt_wandb import WandbTuner


def make(tmp_path, build, **kwargs):
    kwargs.setdefault("directory", str(tmp_path / "search"))
    kwargs.setdefault("wandb_mode", "disabled")
    kwargs.setdefault("project_name", "bad")
    return WandbTuner(build, objective="val_accuracy", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_trials": 0}, r"Expected `max_trials` to be a whole number of 1 or more, received 0. To fix"),
        ({"max_trials": -3}, r"received -3"),
        ({"max_trials": 2.5}, r"received 2.5"),
        ({"executions_per_trial": 0}, r"Expected `executions_per_trial` .* received 0"),
        (
            {"wandb_project": "my/project"},
            r"Expected a project name W&B accepts, received 'my/project' \(from `wandb_project`\).*found '/'.*"
            r"To fix, pass `wandb_project=` a name W&B takes, such as 'my-project'",
        ),
        ({"wandb_project": "x" * 129}, r"W&B refuses: .*exceeded 128 characters"),
        (
            {"project_name": "runs:v2", "wandb_mode": "offline"},
            r"received 'runs:v2' \(from `project_name`\).*'runs-v2'.*or change project_name",
        ),
        ({"wandb_project": " "}, r"Expected `wandb_project` to be a non-empty name"),
        ({"wandb_mode": "ofline"}, r"Expected wandb_mode to be one of"),
        ({"oracle": "randon"}, r"Expected `oracle` to be one of"),
        ({"wandb_kwargs": {"project": "p"}}, r"'project' is set by wandb_project="),
        ({"wandb_kwargs": ["readme"]}, r"Expected `wandb_kwargs` to be a mapping of `wandb.init` arguments, received "
         r"\['readme'\] \(list\). To fix, pass a dict"),
        ({"wandb_kwargs": {1: "x"}}, r"Expected `wandb_kwargs` keyed by `wandb.init` argument names"),
        ({"wandb_entity": 42}, r"Expected `wandb_entity` to be a W&B user or team name .* received 42 \(int\)"),
        ({"log_best_model": "yes"}, r"Expected `log_best_model` to be True or False, received 'yes'"),
        ({"wandb_panels": "no"}, r"Expected `wandb_panels` to be True, False or None .*received 'no'"),
        ({"tensorboard_dir": 3}, r"Expected `tensorboard_dir` to be a folder path or None, received 3"),
        ({"directory": 3}, r"Expected `directory` to be a folder path, received 3"),
        ({"project_name": ""}, r"Expected `project_name` to be a non-empty folder name"),
        ({"oracle": "grid", "unrecognized": 3},
         r"Expected arguments of the 'grid' oracle .* received \['unrecognized'\]"),
    ],
)
def test_bad_tuner_arguments(tmp_path, tiny_model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(tmp_path, tiny_model, **kwargs)


def test_a_directory_without_write_permission(tmp_path, tiny_model):
    locked = Path(tempfile.mkdtemp(prefix="kt-wandb-locked-"))  # outside tmp_path, so another user reaches it
    expected = (
        rf"Expected a `directory` the search can write to, received '{locked}/runs', where '{locked}' is not writable"
    )
    try:
        locked.chmod(0o555)
        if os.geteuid() != 0:
            with pytest.raises(ValueError, match=expected):
                make(tmp_path, tiny_model, directory=str(locked / "runs"))
            return
        # Root may write anywhere (CI runs as root): try as the unprivileged user 'nobody', in a forked child.
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                os.setgid(65534)
                os.setuid(65534)
                make(tmp_path, tiny_model, directory=str(locked / "runs"))
            except ValueError as exc:
                os.write(write, str(exc).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        with os.fdopen(read) as pipe:
            message = pipe.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, message
        assert re.search(expected, message) and "To fix" in message
        assert not (locked / "runs").exists()
    finally:
        locked.chmod(0o755)
        shutil.rmtree(locked)


def test_an_unknown_argument_is_a_value_error_as_in_keras_tuner(tmp_path, tiny_model):
    import keras_tuner as kt

    with pytest.raises(ValueError, match="Unrecognized arguments"):  # KerasTuner's own type for it
        kt.GridSearch(tiny_model, objective="val_accuracy", directory=str(tmp_path / "kt"), unrecognized=3)
    with pytest.raises(ValueError, match="unrecognized") as caught:
        make(tmp_path, tiny_model, oracle="grid", unrecognized=3)
    assert isinstance(caught.value, TypeError)  # what earlier versions raised: caught either way


def test_no_hypermodel_is_refused_by_keras_tuners_rule(tmp_path, tiny_model, digits):
    refused = r"^Received `hypermodel=None`\. Expected a `hypermodel`.*To fix, pass the function"
    with pytest.raises(ValueError, match=refused):
        WandbTuner(objective="val_loss", oracle="random", max_trials=2, wandb_mode="disabled",
                   directory=str(tmp_path / "none"))
    assert not (tmp_path / "none").exists()  # refused before anything was created

    class OwnLoop(WandbTuner):  # a subclass that builds and trains in run_trial needs none
        def run_trial(self, trial, x, y):
            model = tiny_model(trial.hyperparameters)
            history = model.fit(x, y, epochs=1, validation_split=0.25, verbose=0)
            return {"val_loss": history.history["val_loss"][-1]}

    tuner = OwnLoop(objective="val_loss", oracle="random", max_trials=1, wandb_mode="disabled",
                    directory=str(tmp_path / "own"))
    tuner.search(*digits)
    assert [t.status for t in tuner.oracle.trials.values()] == ["COMPLETED"]


def test_a_tensorboard_dir_that_is_a_file_is_refused_before_the_search(tmp_path, tiny_model):
    blocker = tmp_path / "tb"
    blocker.write_text("")
    with pytest.raises(ValueError, match=r"Expected `tensorboard_dir` to be a folder, received '.*tb', which is a "
                       r"file. To fix"):
        make(tmp_path, tiny_model, tensorboard_dir=str(blocker))
    with pytest.raises(ValueError, match=r"where '.*tb' is a file, not a folder"):
        make(tmp_path, tiny_model, tensorboard_dir=str(blocker / "logs"))
    with pytest.raises(ValueError, match=r"Expected `wandb_kwargs\['dir'\]` to be a folder, received '.*tb'"):
        make(tmp_path, tiny_model, wandb_kwargs={"dir": str(blocker)})
    assert not (tmp_path / "search").exists()


def test_a_directory_below_a_file(tmp_path, tiny_model):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ValueError, match=r"where '.*a-file' is a file, not a folder"):
        make(tmp_path, tiny_model, directory=str(blocker / "runs"))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t, x, y: t.search(x, y, epochs=0), r"Expected `epochs` to be a whole number of 1 or more, received 0"),
        (lambda t, x, y: t.search(x, y[:10], epochs=1), r"received 300 examples in x and 10 in y"),
        (lambda t, x, y: t.search(x=x, y=y[:10], epochs=1), r"received 300 examples in x and 10 in y"),
        (lambda t, x, y: t.search(x, y, epochs=1, validation_split=1.5),
         r"Expected `validation_split` to be a fraction from 0 up to \(not including\) 1, received 1.5"),
        (lambda t, x, y: t.search(x, y, epochs=1, callbacks=object()),
         r"Expected `callbacks` to be a list of Keras callbacks, received object"),
        (lambda t, x, y: t.search(x, y, epochs=1, callbacks=[__import__("keras").callbacks.EarlyStopping]),
         r"Expected `callbacks` to hold keras.callbacks.Callback instances, received \['type'\]"),
    ],
)
def test_bad_search_arguments_are_refused_before_any_trial(tmp_path, tiny_model, digits, call, message):
    tuner = make(tmp_path, tiny_model, max_trials=1)
    with pytest.raises(ValueError, match=message):
        call(tuner, *digits)
    assert tuner.oracle.trials == {}


def test_an_existing_search_survives_a_bad_new_tuner(tmp_path, tiny_model, digits):
    first = make(tmp_path, tiny_model, max_trials=1)
    first.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    with pytest.raises(ValueError):
        make(tmp_path, tiny_model, max_trials=0, overwrite=True)
    assert os.path.exists(os.path.join(first.get_trial_dir("0"), "trial.json"))


@pytest.mark.parametrize(
    ("objective", "fit", "message"),
    [
        ("val_auc", {"validation_split": 0.25}, r"Expected the objective 'val_auc' among the metrics the model "
         r"reports, received \['accuracy', 'loss', 'val_accuracy', 'val_loss'\]"),
        ("val_accuracy", {}, r"Expected the objective 'val_accuracy' .* received \['accuracy', 'loss'\].*validation"),
    ],
)
def test_an_objective_the_model_does_not_report_stops_the_search_after_one_epoch(
    tmp_path, wandb_env, tiny_model, digits, objective, fit, message
):
    import keras_tuner as kt

    from tests.helpers.wandb_log import read_runs

    tuner = WandbTuner(tiny_model, objective=kt.Objective(objective, "max"), max_trials=3,
                       directory=str(tmp_path), project_name="objective")
    with pytest.raises(kt.errors.FatalValueError, match=message):
        tuner.search(*digits, epochs=20, verbose=0, **fit)
    (run,) = read_runs(wandb_env).values()  # one trial started, not three
    assert run.exit_code == 1 and len(run.history) <= 1  # stopped at the first epoch, not after 20


def test_panels_are_on_by_default_only_where_wandb_workspaces_is_installed(
    tmp_path, monkeypatch, tiny_model, digits, capsys
):
    import sys

    assert make(tmp_path, tiny_model, project_name="with").wandb_panels is True  # installed with the test extra
    monkeypatch.setitem(sys.modules, "wandb_workspaces", None)  # as where it isn't installed
    tuner = make(tmp_path, tiny_model, project_name="without", wandb_mode="offline", max_trials=1)
    assert tuner.wandb_panels is False
    capsys.readouterr()
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=1)  # verbose: where the hint is printed
    said = capsys.readouterr()
    assert "Trial 1 Complete" in said.out  # the search's own report was printed ...
    assert "kt-wandb sync" not in said.out + said.err  # ... and no hint or complaint for panels it can't make
    asked = make(tmp_path, tiny_model, project_name="asked", wandb_panels=True, wandb_mode="offline", max_trials=1)
    assert asked.wandb_panels is True
    asked.search(*digits, epochs=1, validation_split=0.25, verbose=1)
    # Asked for, it prints the hint the check above looks for: that check would see one.
    assert f"kt-wandb sync {asked.project_dir}" in capsys.readouterr().out
