"""Online W&B, for real: searches against the W&B server double on loopback (`online_wandb`), read back from it.

The faults are the server's own, made while the search runs: it stalls, answers 500, is slow, or is killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest

from kt_wandb import WandbTuner
from kt_wandb._records import RUN_RECORD
from tests.helpers.environment import child_env
from tests.helpers.wandb_log import recording_ends


def online_tuner(tmp_path: Path, build, cls: type[WandbTuner] = WandbTuner, **kwargs) -> WandbTuner:
    kwargs.setdefault("max_trials", 3)
    kwargs.setdefault("wandb_mode", "online")
    # seed=1, not 0 (KerasTuner's "no seed"): the same trials each run, all 4 of the tiny model's combinations.
    return cls(build, objective="val_accuracy", oracle="random", seed=1, directory=str(tmp_path / "search"),
               project_name="online", wandb_project="online-test", **kwargs)


class TimedEnds(WandbTuner):
    """Notes the seconds each trial's end took (its run's finish, and the wait for it on W&B)."""

    def on_trial_end(self, trial):
        started = time.monotonic()
        super().on_trial_end(trial)
        self.ends = [*getattr(self, "ends", []), time.monotonic() - started]


def test_an_online_search_puts_each_trial_on_the_server_as_a_run_and_saves_its_report(
    tmp_path, online_wandb, digits, tiny_model
):
    server = online_wandb
    tuner = online_tuner(tmp_path, tiny_model, log_best_model=True, wandb_panels=True,
                         wandb_kwargs={"tags": ["online-test"]})
    tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0)
    assert tuner.wandb_mode == "online" and tuner.wandb_project == "online-test"
    for trial_id, trial in tuner.oracle.trials.items():
        run = server.wait_run(f"{tuner.search_id}-{trial_id}")
        assert (run.name, run.group, run.project) == (f"trial-{trial_id}", tuner.wandb_group, "online-test")
        assert set(run.tags) == {"random", "online-test"}
        assert run.config == trial.hyperparameters.values
        assert run.summary["val_accuracy"] == pytest.approx(trial.score)  # the score the oracle ranked
        assert run.summary["best_epoch"] == trial.best_step and run.summary["trial/status"] == "COMPLETED"
        assert [row["epoch/epoch"] for row in run.history] == [0, 1]
        (curve,) = json.loads(Path(tuner.get_trial_dir(trial_id), RUN_RECORD).read_text())["history"]
        assert [row["epoch/val_accuracy"] for row in run.history] == pytest.approx(
            [epoch["val_accuracy"] for epoch in curve])
        assert (run.state, run.exit_code) == ("finished", 0)
        model = server.artifact(f"model-{run.id}")
        assert model.type == "model" and "best" in model.aliases and model.run_id == run.id
        assert "model.keras" in model.files
    (report,) = server.reports.values()
    assert report.runsets and all(tuner.wandb_group in json.dumps(r["filters"]) for r in report.runsets)
    kinds = [panel["viewType"] for panel in report.panels]
    assert {"Parallel Coordinates Plot", "Parameter Importance", "Scatter Plot", "Run History Line Plot"} <= set(kinds)
    columns = json.dumps([p for p in report.panels if p["viewType"] == "Parallel Coordinates Plot"])
    assert all(f"config:{name}" in columns for name in ("units", "learning_rate")) and "summary:val_accuracy" in columns

    tuner.oracle.max_trials = 4
    tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0)  # a second search() updates it in place
    assert list(server.reports) == [report.id] and len(server.upserts) == 2
    assert server.wait_run(f"{tuner.search_id}-3").state == "finished"


class FaultAt(keras.callbacks.Callback):
    """Makes `fault` happen to the server when trial `trial` starts training (KerasTuner copies it per trial)."""

    def __init__(self, fault, starts: list[int]) -> None:
        super().__init__()
        self.fault, self.starts = fault, starts

    def __deepcopy__(self, memo):  # one for the whole search: it counts the trials
        return self

    def on_train_begin(self, logs=None):
        self.starts.append(1)
        if len(self.starts) == 2:  # the second trial
            self.fault()


FAULTS = {
    "stall": lambda server: server.stall(),
    "500 for 30 s": lambda server: server.fail(500, seconds=30),
    "killed": lambda server: server.kill(),
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_server_that_fails_mid_search_costs_one_timeout_and_the_printed_command_uploads_every_run(
    tmp_path, online_wandb, capsys, wandb_env, digits, tiny_model, fault
):
    server = online_wandb
    wandb_dir = Path(os.environ["WANDB_DIR"])
    tuner = online_tuner(tmp_path, tiny_model, TimedEnds, max_trials=4, wandb_timeout=10, wandb_panels=False)
    seen = recording_ends(tuner, wandb_dir, online=True)  # is each run whole on disk when its trial ends?
    starts: list[int] = []
    tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0,
                 callbacks=[FaultAt(lambda: FAULTS[fault](server), starts)])
    assert [t.status for t in tuner.oracle.trials.values()] == ["COMPLETED"] * 4
    assert seen == {str(i): True for i in range(4)}
    records = [json.loads(Path(tuner.get_trial_dir(t), RUN_RECORD).read_text()) for t in tuner.oracle.trials]
    lines = [line for line in capsys.readouterr().err.splitlines() if "Upload them later with" in line]
    if fault == "500 for 30 s" and all(r["mode"] == "online" and not r.get("upload_timed_out") for r in records):
        pytest.fail("500s for 30 s outlast a 5 s finish timeout: the search should have gone offline")
    # One timeout: the trial the fault hit waited on W&B once, the later ones were offline without trying.
    assert [r["mode"] for r in records] == ["online", "online", "offline", "offline"], records
    assert [bool(r.get("upload_timed_out")) for r in records] == [False, True, False, False]
    # The trial the fault hit waited its finish share (5 s) and no more than the whole timeout; the others didn't.
    assert 4 < tuner.ends[1] < 10 + 10 and max(tuner.ends[0], *tuner.ends[2:]) < 5, tuner.ends
    assert tuner.wandb_mode == "offline" and len(lines) == 1, lines
    command = lines[0].split("Upload them later with: ", 1)[1]
    assert command.startswith("wandb sync --include-online ") and records[1]["run_dir"] in command

    server.heal()
    server.restart()
    done = subprocess.run(command.replace("wandb", f"{sys.executable} -m wandb", 1), shell=True, text=True,
                          capture_output=True, env=child_env(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for trial_id, trial in tuner.oracle.trials.items():  # every run on the server, whole
        run = server.wait_run(f"{tuner.search_id}-{trial_id}", timeout=60)
        assert run.summary["val_accuracy"] == pytest.approx(trial.score)
        assert len(run.history) == 2 and run.exit_code == 0


@pytest.mark.slow
def test_a_slow_server_that_answers_keeps_the_search_online(tmp_path, online_wandb, capsys, digits, tiny_model):
    server = online_wandb
    server.latency = 2.0
    tuner = online_tuner(tmp_path, tiny_model, max_trials=2, wandb_panels=False)
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    assert tuner.wandb_mode == "online" and "Upload them later" not in capsys.readouterr().err
    for trial_id in tuner.oracle.trials:
        assert server.wait_run(f"{tuner.search_id}-{trial_id}").state == "finished"
        record = json.loads(Path(tuner.get_trial_dir(trial_id), RUN_RECORD).read_text())
        assert record["mode"] == "online" and "upload_timed_out" not in record


def test_kt_wandb_sync_uploads_an_offline_search_and_saves_its_report_and_is_safe_twice(
    tmp_path, online_wandb, digits, tiny_model, monkeypatch
):
    server = online_wandb
    tuner = online_tuner(tmp_path, tiny_model, max_trials=2, wandb_panels=True, wandb_mode="offline")
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    assert not server.runs
    sync = [sys.executable, "-m", "kt_wandb.cli", "sync", tuner.project_dir]
    streamed = []  # the file-stream posts (a run's history and summary) after each sync
    for _ in range(2):
        done = subprocess.run(sync, text=True, capture_output=True, env=child_env(), timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert len(server.reports) == 1  # the second run updates the report in place
        streamed.append(sum(r.path.endswith("/file_stream") for r in server.requests))
    assert sorted(server.runs) == sorted(f"{tuner.search_id}-{t}" for t in tuner.oracle.trials)
    assert all(run.exit_code == 0 and run.summary.get("trial/status") == "COMPLETED" for run in server.runs.values())
    assert all(len(run.history) == 1 for run in server.runs.values())
    assert streamed[0] > 0 and streamed[1] == streamed[0]  # the second sync uploads nothing again
    monkeypatch.delenv("WANDB_API_KEY")
    refused = subprocess.run(sync, text=True, capture_output=True, env=child_env(), timeout=120)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("kt-wandb: error: Expected W&B credentials") and "wandb login" in line


@pytest.mark.slow
def test_a_launch_online_puts_every_workers_trial_on_the_server_in_one_group_and_the_chief_opens_none(
    tmp_path, online_wandb
):
    server = online_wandb
    script = Path(__file__).with_name("distributed_search.py")
    command = [sys.executable, "-m", "kt_wandb.cli", "launch", "--workers", "2", "--gpus", "none", "--",
               sys.executable, str(script), str(tmp_path / "search"), "4"]
    done = subprocess.run(command, env=child_env(TRIAL_SLEEP="1"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:]
    trials = [json.loads(p.read_text()) for p in (tmp_path / "search" / "search").glob("trial_*/trial.json")]
    records = [json.loads(p.read_text()) for p in (tmp_path / "search" / "search").glob(f"trial_*/{RUN_RECORD}")]
    assert len(trials) == 4 and all(t["status"] == "COMPLETED" for t in trials)
    assert all(r["mode"] == "online" for r in records)
    runs = [server.wait_run(r["run_id"]) for r in records]
    assert sorted(server.runs) == sorted(r["run_id"] for r in records)  # no run of the chief's
    assert len({run.group for run in runs}) == 1
    assert {run.summary["trial/worker"] for run in runs} == {"worker0", "worker1"}
    assert all(f"worker:{run.summary['trial/worker']}" in run.tags and run.exit_code == 0 for run in runs)
    (report,) = server.reports.values()  # the chief's, at the search's end
    assert runs[0].group in json.dumps(report.runsets)
