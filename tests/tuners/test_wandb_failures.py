"""W&B's real failures, made for real: a closed port, a server answering 401 or 503 or never, wandb-core killed.

The runs' logs are read back as a user would find them, at the moment the guarantee names, without
`wandb.teardown()` first (`read_run`, not `read_runs`).
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import keras
import psutil
import pytest

from kt_wandb import WandbTuner
from kt_wandb._records import RUN_RECORD
from tests.helpers.wandb_log import read_run, read_runs, recording_ends, run_log, whole

FAKE_KEY = "ktwandbfakekey0123456789abcdef0123456789"  # 40 characters, as a W&B key


def tuner_for(tmp_path, build, **kwargs):
    kwargs.setdefault("max_trials", 3)
    # seed=1: KerasTuner takes 0 for "no seed", and an unseeded random oracle may fail to find the last untried
    # of the tiny model's 4 combinations (it stops after 20 draws already tried), ending a 4-trial search at 3.
    return WandbTuner(build, objective="val_accuracy", oracle="random", seed=1, directory=str(tmp_path / "search"),
                      project_name="failures", **kwargs)


# -- durability ----------------------------------------------------------------------------


def wandb_core() -> psutil.Process:
    """This process's wandb-core."""
    (core,) = [p for p in psutil.Process().children(recursive=True) if p.name() == "wandb-core"]
    return core


def pause_wandb_core(seconds: float, events: list[str] | None = None) -> None:
    """Stops this process's wandb-core now, and lets it go on after `seconds` (from a timer, noted in `events`)."""
    core = wandb_core()
    core.suspend()

    def resume() -> None:
        if events is not None:  # noted first: the main thread may go on the moment it resumes
            events.append("wandb-core resumed")
        core.resume()

    threading.Timer(seconds, resume).start()


def test_a_trials_run_is_whole_on_disk_when_keras_tuner_records_its_end(
    tmp_path, monkeypatch, wandb_env, digits, tiny_model
):
    import wandb

    # wandb-core stopped for a moment right after each run's finish() returns, before it has handled what
    # finish() sent last: the trial's end must wait for wandb-core's answer, not win a race with its writer.
    finish = wandb.Run.finish
    events: list[str] = []

    def finish_then_pause(run, *args, **kwargs):
        finish(run, *args, **kwargs)
        pause_wandb_core(1.0, events)

    monkeypatch.setattr(wandb.Run, "finish", finish_then_pause)
    tuner = tuner_for(tmp_path, tiny_model, max_trials=4)
    seen = recording_ends(tuner, wandb_env, events)
    tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0)
    assert seen == {str(i): True for i in range(4)}
    assert events == [event for i in range(4) for event in ("wandb-core resumed", f"trial {i} ended")]
    # And when search() returns, every run of the search is whole, as a user (or a SIGKILL) finds it now.
    logs = sorted(wandb_env.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(logs) == 4 and all(whole(p) for p in logs)
    assert all(read_run(p).history for p in logs)


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_an_interruption_while_a_trials_run_finishes_waits_until_the_run_is_whole(
    tmp_path, wandb_env, digits, tiny_model, sent
):
    from kt_wandb.tuners._signals import SearchTerminated

    class InterruptedWhileFinishing(WandbTuner):
        def on_trial_end(self, trial):
            if trial.trial_id == "1":  # the signal lands while the run's finish waits for wandb-core
                pause_wandb_core(2.0)
                threading.Timer(0.5, os.kill, (os.getpid(), sent)).start()
            super().on_trial_end(trial)

    tuner = InterruptedWhileFinishing(tiny_model, objective="val_accuracy", oracle="random", seed=1, max_trials=4,
                                      directory=str(tmp_path / "search"), project_name="interrupted")
    seen = recording_ends(tuner, wandb_env)
    with pytest.raises(KeyboardInterrupt) as raised:
        tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0)
    assert isinstance(raised.value, SearchTerminated) == (sent == signal.SIGTERM)
    # The search stopped after trial 1, which KerasTuner recorded COMPLETED: its run is whole, with its score.
    assert seen == {"0": True, "1": True}
    assert tuner.oracle.trials["1"].status == "COMPLETED"
    run = read_run(run_log(wandb_env, f"{tuner.search_id}-1"))
    assert run.exit_code == 0 and run.summary["trial/status"] == "COMPLETED"
    assert run.summary["val_accuracy"] == pytest.approx(tuner.oracle.trials["1"].score)
    record = json.loads((Path(tuner.get_trial_dir("1")) / RUN_RECORD).read_text())
    assert record["exit_code"] == 0 and record["written"] is True


def test_a_second_ctrl_c_while_a_run_finishes_leaves_the_trial_to_run_again_on_resume(tmp_path, wandb_env, digits,
                                                                                       tiny_model):
    class InterruptedTwice(WandbTuner):
        def on_trial_end(self, trial):
            if trial.trial_id == "1":  # both land while the run's finish waits for wandb-core
                pause_wandb_core(3.0)
                for after in (0.5, 1.0):
                    threading.Timer(after, os.kill, (os.getpid(), signal.SIGINT)).start()
            super().on_trial_end(trial)

    def tuner(cls):
        return cls(tiny_model, objective="val_accuracy", oracle="random", seed=0, max_trials=2,
                   directory=str(tmp_path / "search"), project_name="twice")

    first = tuner(InterruptedTwice)
    with pytest.raises(KeyboardInterrupt):
        first.search(*digits, epochs=2, validation_split=0.25, verbose=0)
    time.sleep(3)  # wandb-core goes on
    on_disk = json.loads((Path(first.get_trial_dir("1")) / "trial.json").read_text())
    assert on_disk["status"] == "RUNNING"  # its end not recorded: its run is not whole
    record = json.loads((Path(first.get_trial_dir("1")) / RUN_RECORD).read_text())
    assert record["exit_code"] == 255
    resumed = tuner(WandbTuner)
    resumed.search(*digits, epochs=2, validation_split=0.25, verbose=0)
    assert [t.status for t in resumed.oracle.trials.values()] == ["COMPLETED", "COMPLETED"]
    again = read_run(run_log(wandb_env, f"{resumed.search_id}-1-r1"))  # a new attempt, with a run of its own
    assert again.exit_code == 0 and again.summary["val_accuracy"] == pytest.approx(resumed.oracle.trials["1"].score)


# -- W&B unreachable online ----------------------------------------------------------------


class _Answer(http.server.BaseHTTPRequestHandler):
    status = 503
    requests: list[str]

    def do_POST(self):
        type(self).requests.append(self.path)
        if self.status == 0:  # never answers: holds the connection until the test ends
            time.sleep(30)
            return
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"errors": [{"message": "kt-wandb test server"}]}')

    do_GET = do_POST

    def log_message(self, *args):
        pass


def closed_port() -> str:
    """The URL of a local port nothing listens on."""
    with socket.socket() as probe:  # bound, then closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def server(request):
    """A local W&B stand-in on a free port answering `request.param` (0: never); None: a closed port."""
    if request.param is None:
        yield closed_port(), None
        return
    handler = type("Handler", (_Answer,), {"status": request.param, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.requests
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("server", [None, 401, 503, 0], ids=["closed port", "401", "503", "never answers"],
                         indirect=True)
def test_wandb_unreachable_turns_the_search_offline_once_with_the_same_run_ids(
    tmp_path, monkeypatch, capsys, wandb_env, digits, tiny_model, server
):
    import wandb

    from kt_wandb.tuners._trial_run import WandbSession

    url, requests = server
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    attempts: list[str] = []  # the mode of each wandb.init the search makes (each one called through)
    start = WandbSession._init

    def counted(session, run_id, mode, init):
        attempts.append(mode)
        return start(session, run_id, mode, init)

    monkeypatch.setattr(WandbSession, "_init", counted)
    settings = wandb.Settings(base_url=url, api_key=FAKE_KEY, init_timeout=5)
    tuner = tuner_for(tmp_path, tiny_model, wandb_mode="online", wandb_panels=False,
                      wandb_kwargs={"settings": settings})
    started = time.monotonic()
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    took = time.monotonic() - started

    assert [t.status for t in tuner.oracle.trials.values()] == ["COMPLETED"] * 3
    assert tuner.wandb_mode == "offline"
    lines = [line for line in capsys.readouterr().err.splitlines() if "W&B could not start a run online" in line]
    assert len(lines) == 1, lines  # said once, in one line, with the exact command
    assert lines[0].endswith(f"Upload them later with: wandb sync {wandb_env}/wandb/offline-run-*-{tuner.search_id}-*")
    assert lines[0].endswith(tuner.sync_command) and tuner.wandb_dir == str(wandb_env / "wandb")
    # Every trial's run is a whole offline run under the trial's own id, the first trial's too.
    logs = {p.name: p for p in wandb_env.glob("wandb/offline-run-*/run-*.wandb")}
    assert sorted(logs) == sorted(f"run-{tuner.search_id}-{t}.wandb" for t in tuner.oracle.trials)
    for path in logs.values():
        run = read_run(path)
        assert whole(path) and run.exit_code == 0 and run.history and "val_accuracy" in run.summary
    # One online attempt, for the first trial only: one init timeout (5 s), not one per trial.
    assert attempts[0] == "online" and attempts.count("online") == 1, attempts
    assert took < 5 + 40, took
    if requests is not None:
        assert requests.count("/graphql") >= 1  # the fault was W&B's server's, reached and failing
    tuner.oracle.max_trials = 4
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)  # a new search() tries online again
    again = [line for line in capsys.readouterr().err.splitlines() if "W&B could not start a run online" in line]
    assert len(again) == 1 and tuner.wandb_mode == "offline"
    assert attempts.count("online") == 2, attempts
    assert read_run(run_log(wandb_env, f"{tuner.search_id}-3")).exit_code == 0


def test_online_without_an_api_key_goes_offline_at_once(tmp_path, monkeypatch, capsys, wandb_env, digits, tiny_model):
    # No key at all: wandb.init fails before the service has the run's stream, so there is no stream to drop
    # (waiting for one cost the drop's whole 30 s timeout, at every search()).
    import wandb

    from kt_wandb.tuners._trial_run import WandbSession

    wandb.teardown()  # wandb reads the environment once per process: a key an earlier test set is forgotten
    monkeypatch.setenv("WANDB_BASE_URL", closed_port())  # nothing is sent anywhere, whatever happens
    starts: list[float] = []
    start = WandbSession.start

    def timed(session, run_id, **init):
        began = time.monotonic()
        try:
            return start(session, run_id, **init)
        finally:
            starts.append(time.monotonic() - began)

    monkeypatch.setattr(WandbSession, "start", timed)
    tuner = tuner_for(tmp_path, tiny_model, max_trials=2, wandb_mode="online", wandb_panels=False)
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    assert tuner.wandb_mode == "offline" and len(starts) == 2
    assert starts[0] < 15, starts  # the drop's timeout is 30 s
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "could not start a run online" in line]
    assert "No API key configured" in line
    assert all(whole(run_log(wandb_env, f"{tuner.search_id}-{t}")) for t in tuner.oracle.trials)


# -- the wandb service dying ---------------------------------------------------------------


def core_log(run_dir: Path) -> Path:
    """The log of the wandb-core that served the run in `run_dir` (one log per wandb-core started)."""
    return (run_dir / "logs" / "debug-core.log").resolve()


def kill_wandb_core() -> int:
    (core,) = [p for p in psutil.Process().children(recursive=True) if p.name() == "wandb-core"]
    os.kill(core.pid, signal.SIGKILL)
    core.wait(10)
    return core.pid


class KillAt(keras.callbacks.Callback):
    """Kills this process's wandb-core at the start of the first trial's training, or after its first epoch."""

    killed: list[int] = []  # noqa: RUF012 - shared by KerasTuner's copies

    def __init__(self, when: str) -> None:
        super().__init__()
        self.when = when

    def on_train_begin(self, logs=None):  # before the trial's logger defines its metrics
        if self.when == "train begin" and not KillAt.killed:
            KillAt.killed.append(kill_wandb_core())

    def on_epoch_end(self, epoch, logs=None):
        if self.when == "epoch" and not KillAt.killed:
            KillAt.killed.append(kill_wandb_core())


@pytest.mark.parametrize("when", ["train begin", "epoch", "finish"])
def test_wandb_core_killed_costs_no_trial_and_later_trials_get_runs(
    tmp_path, wandb_env, capsys, digits, tiny_model, when
):
    import wandb

    with wandb.init(mode="offline", dir=wandb_env, project="warm-up") as warm_up:  # this process's service
        pass
    first_core = core_log(Path(warm_up.dir).parent)
    KillAt.killed = []

    class KillsAtFinish(WandbTuner):
        def on_trial_end(self, trial):
            if when == "finish" and not KillAt.killed:
                KillAt.killed.append(kill_wandb_core())
            super().on_trial_end(trial)

    tuner = KillsAtFinish(tiny_model, objective="val_accuracy", oracle="random", seed=0, max_trials=3,
                          directory=str(tmp_path / "search"), project_name="killed")
    tuner.search(*digits, epochs=2, validation_split=0.25, verbose=0, callbacks=[KillAt(when)])
    assert len(KillAt.killed) == 1
    trials = list(tuner.oracle.trials.values())
    assert [t.status for t in trials] == ["COMPLETED"] * 3
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("kt-wandb: W&B failed")]
    assert len(said) == 1 and "Later trials get W&B runs again" in said[0]
    frame = tuner.results_frame()  # the killed trial's scores and curve are in the search's records
    assert frame.score.notna().all() and frame.best_val_accuracy.notna().all()
    for trial in trials[1:]:  # a fresh service served the later trials, and their runs are whole
        path = run_log(wandb_env, f"{tuner.search_id}-{trial.trial_id}")
        assert whole(path) and read_run(path).exit_code == 0
        served_by = core_log(path.parent)
        assert served_by != first_core
        assert f'stream started","streamId":"{tuner.search_id}-{trial.trial_id}"' in served_by.read_text()
    assert wandb_core().pid != KillAt.killed[0]


# -- beside the user's own run -------------------------------------------------------------


def test_a_users_own_run_stays_active_through_the_search(tmp_path, wandb_env, digits, tiny_model):
    import wandb

    mine = wandb.init(mode="offline", dir=wandb_env, project="notebook", id="usersown")
    mine.log({"before": 1})
    tuner = tuner_for(tmp_path, tiny_model, max_trials=2)
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    assert wandb.run is mine
    mine.log({"after": 2})  # raised UsageError when the trials' runs finished it
    wandb.log({"through_wandb_log": 3})  # wandb.log still goes to the user's run, not a trial's
    mine.finish()
    runs = read_runs(wandb_env)
    assert [row.get("before", row.get("after", row.get("through_wandb_log"))) for row in runs["usersown"].history] \
        == [1, 2, 3]
    assert runs["usersown"].exit_code == 0
    assert sorted(runs) == sorted(["usersown", *(f"{tuner.search_id}-{t}" for t in tuner.oracle.trials)])
