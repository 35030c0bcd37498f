"""KerasTuner's distributed mode: a chief and workers as real processes on loopback, and the chief's parts."""

from __future__ import annotations

import json
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras_tuner as kt
import pytest

from kt_wandb.analysis import results_frame
from kt_wandb.distribute import heartbeat_timeout, role
from kt_wandb.distribute._chief import reap_silent_workers
from kt_wandb.tuners._wandb import SEARCH_ID_ENV, SearchIdentity
from tests.helpers.environment import child_env
from tests.helpers.wandb_log import read_runs

SCRIPT = Path(__file__).with_name("distributed_search.py")


def _oracle(tmp_path: Path, max_trials: int = 4, *, units: int = 100) -> kt.Oracle:
    hp = kt.HyperParameters()
    hp.Int("units", 1, units)
    oracle = kt.oracles.RandomSearchOracle(
        objective=kt.Objective("score", "max"), max_trials=max_trials, hyperparameters=hp, seed=0
    )
    oracle._set_project_dir(str(tmp_path), "search")
    return oracle


def test_role_comes_from_kerastuners_variables():
    assert role({}) is None
    address = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"}
    assert role({**address, "KERASTUNER_TUNER_ID": "chief"}) == "chief"
    assert role({**address, "KERASTUNER_TUNER_ID": "worker3"}) == "worker"
    with pytest.raises(ValueError, match=r"KERASTUNER_TUNER_ID.*To fix.*kt-wandb launch"):
        role(address)


def test_a_heartbeat_timeout_that_is_no_positive_number_is_refused():
    assert heartbeat_timeout({"KT_WANDB_HEARTBEAT_TIMEOUT": "2.5"}) == 2.5
    with pytest.raises(ValueError, match=r"Expected KT_WANDB_HEARTBEAT_TIMEOUT.*received '0'.*To fix"):
        heartbeat_timeout({"KT_WANDB_HEARTBEAT_TIMEOUT": "0"})


def _finished_oracle(tmp_path: Path) -> kt.Oracle:
    """An oracle whose one trial is done: a finished (or resumed) search."""
    oracle = _oracle(tmp_path, max_trials=1)
    done = oracle.create_trial("worker0")
    oracle.update_trial(done.trial_id, {"score": 1.0})
    done.status = "COMPLETED"
    oracle.end_trial(done)
    return oracle


def _chief_address(monkeypatch: pytest.MonkeyPatch, *, workers: int) -> int:
    """KerasTuner's variables for a chief on a free loopback port, waiting for `workers`; returns the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KT_WANDB_WORKERS", str(workers))
    return port


def test_a_silent_workers_trial_goes_to_the_next_worker_that_asks(tmp_path):
    oracle = _oracle(tmp_path)
    lost = oracle.create_trial("worker0")
    kept = oracle.create_trial("worker1")
    seen = {"worker0": 0.0, "worker1": 95.0}

    assert reap_silent_workers(oracle, seen, timeout=10, now=100.0) == [("worker0", lost.trial_id)]
    assert "worker0" not in oracle.tuner_ids and "worker0" not in oracle.ongoing_trials
    assert oracle.ongoing_trials["worker1"] is kept  # heard of 5 s ago: kept

    oracle.update_trial(kept.trial_id, {"score": 1.0})
    kept.status = "COMPLETED"
    oracle.end_trial(kept)
    again = oracle.create_trial("worker1")
    assert again.trial_id == lost.trial_id and again.hyperparameters.values == lost.hyperparameters.values
    assert json.loads((tmp_path / "search" / "oracle.json").read_text())["ongoing_trials"] == {
        "worker1": lost.trial_id
    }


def test_a_late_result_from_a_dropped_worker_is_kept_and_its_trial_not_run_again(tmp_path, capsys):
    from keras_tuner.src import protos

    from kt_wandb.distribute._chief import Servicer

    oracle = _oracle(tmp_path)
    servicer = Servicer(oracle)
    slow = oracle.create_trial("worker0")
    oracle.create_trial("worker1")
    assert reap_silent_workers(oracle, {"worker0": 0.0, "worker1": 95.0}, timeout=10, now=100.0)
    assert oracle._retry_queue == [slow.trial_id]

    oracle.update_trial(slow.trial_id, {"score": 0.5})  # worker0 was alive after all, and ends its trial
    slow.status = "COMPLETED"
    servicer.EndTrial(protos.get_service().EndTrialRequest(trial=slow.to_proto()), None)
    assert oracle._retry_queue == []
    assert oracle.trials[slow.trial_id].status == "COMPLETED" and oracle.trials[slow.trial_id].score == 0.5
    assert oracle.create_trial("worker0").trial_id != slow.trial_id
    assert f"trial {slow.trial_id} ended after its worker was dropped" in capsys.readouterr().err


def test_an_exception_in_the_chiefs_oracle_leaves_its_lock_free(tmp_path):
    # KerasTuner's `synchronized` keeps the lock when the call raises: the chief's reaper and every worker's
    # next request then wait forever. Here end_trial raises at the third failure in a row.
    import threading

    from keras_tuner.src import protos
    from keras_tuner.src.engine import oracle as oracle_module

    from kt_wandb._keras_tuner import holding
    from kt_wandb.distribute._chief import Servicer

    oracle = _oracle(tmp_path, max_trials=10)
    servicer = Servicer(oracle)
    service = protos.get_service()
    for i in range(3):
        trial = oracle.create_trial(f"worker{i}")
        trial.status, trial.message = "FAILED", "the data source went away"
        request = service.EndTrialRequest(trial=trial.to_proto())
        if i < 2:
            servicer.EndTrial(request, None)
            continue
        with pytest.raises(RuntimeError, match="consecutive failures"):
            servicer.EndTrial(request, None)
    assert not oracle_module.LOCKS[oracle].locked() and oracle_module.THREADS[oracle] is None

    reaped = []
    reaper = threading.Thread(target=lambda: reaped.append(reap_in_lock(oracle, holding)))
    reaper.start()
    reaper.join(timeout=10)
    assert reaped == [[]], "the chief's reaper is blocked on the oracle's lock"


def reap_in_lock(oracle, holding):
    with holding(oracle):
        return reap_silent_workers(oracle, {}, timeout=10, now=0.0)


def test_every_request_to_the_chief_holds_the_oracles_lock(tmp_path):
    # KerasTuner's chief serves from one thread; this one from 64, so reads that KerasTuner doesn't lock
    # (best trials, the space) must not run while another request changes the oracle.
    import threading

    from keras_tuner.src import protos
    from keras_tuner.src.engine import oracle as oracle_module
    from keras_tuner.src.engine.trial import Trial

    from kt_wandb.distribute._chief import Servicer

    # A space far larger than the 80 trials: a random oracle that can't find new values says "stop", and the
    # chief then tells a worker to wait while others run; this test is about the lock, not about that.
    oracle = _oracle(tmp_path, max_trials=200, units=1_000_000)
    servicer = Servicer(oracle)
    service = protos.get_service()
    seen_unlocked = []
    original = oracle.get_best_trials

    def get_best_trials(num_trials=1):
        seen_unlocked.append(not oracle_module.LOCKS[oracle].locked())
        return original(num_trials)

    oracle.get_best_trials = get_best_trials
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            for _ in range(10):
                reply = servicer.CreateTrial(service.CreateTrialRequest(tuner_id=name), None)
                trial = Trial.from_proto(reply.trial)
                assert trial.status == "RUNNING", trial.status
                servicer.UpdateTrial(service.UpdateTrialRequest(trial_id=trial.trial_id, metrics={"score": 1.0}), None)
                trial.status = "COMPLETED"
                servicer.EndTrial(service.EndTrialRequest(trial=trial.to_proto()), None)
                servicer.GetBestTrials(service.GetBestTrialsRequest(num_trials=3), None)
                servicer.GetSpace(service.GetSpaceRequest(), None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"worker{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(oracle.trials) == 80 and all(t.status == "COMPLETED" for t in oracle.trials.values())
    assert seen_unlocked and not any(seen_unlocked)  # every read ran holding the lock


@pytest.mark.parametrize("second_worker", ["comes", "never comes"])
def test_the_chief_serves_until_every_expected_worker_is_told_to_stop(tmp_path, monkeypatch, capsys, second_worker):
    # A finished search (resumed, say): without waiting, the chief would end after the first worker's answer, and
    # a worker still starting would wait on it for KerasTuner's hour.
    import grpc
    from keras_tuner.src import protos

    from kt_wandb.distribute._chief import serve_oracle

    oracle = _finished_oracle(tmp_path)
    port = _chief_address(monkeypatch, workers=2)
    chief = threading.Thread(target=serve_oracle, args=(oracle,), kwargs={"timeout": 3.0, "poll_s": 0.1})
    chief.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = protos.get_service_grpc().OracleStub(channel)

        def ask(tuner_id: str) -> str:
            request = protos.get_service().CreateTrialRequest(tuner_id=tuner_id)
            return stub.CreateTrial(request, wait_for_ready=True, timeout=30).trial.status

        assert ask("worker0") == protos.get_proto().TrialStatus.STOPPED
        chief.join(timeout=1.0)
        assert chief.is_alive()  # worker1 has yet to be told
        if second_worker == "comes":
            assert ask("worker1") == protos.get_proto().TrialStatus.STOPPED
            chief.join(timeout=5.0)
        else:
            chief.join(timeout=10.0)  # gives up after the heartbeat timeout
    assert not chief.is_alive()
    from kt_wandb._handshake import SERVING_LINE

    said = capsys.readouterr().out.splitlines()
    assert any(line.startswith(SERVING_LINE) for line in said)  # how the launcher knows the chief served


def test_a_second_chief_on_a_port_in_use_is_refused(tmp_path, monkeypatch):
    # gRPC binds with SO_REUSEPORT by default, so a second chief on the same port would bind too and the
    # workers' connections would be split between two oracles.
    import grpc
    from keras_tuner.src import protos

    from kt_wandb._handshake import answers
    from kt_wandb.distribute._chief import serve_oracle

    first = _finished_oracle(tmp_path / "first")
    port = _chief_address(monkeypatch, workers=1)
    chief = threading.Thread(target=serve_oracle, args=(first,), kwargs={"timeout": 30.0, "poll_s": 0.1})
    chief.start()
    try:
        deadline = time.monotonic() + 30
        while not answers("127.0.0.1", port):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        refused: list[BaseException] = []

        def second_chief() -> None:
            try:
                serve_oracle(_oracle(tmp_path / "second"), timeout=30.0)
            except RuntimeError as exc:
                refused.append(exc)

        second = threading.Thread(target=second_chief, daemon=True)  # one that binds would serve on
        second.start()
        second.join(timeout=15)
        assert not second.is_alive(), "a second chief bound the port in use"
        assert refused and f"received 127.0.0.1:{port}, which could not be bound" in str(refused[0])
    finally:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:  # tells the first chief its worker is done
            stub = protos.get_service_grpc().OracleStub(channel)
            stub.CreateTrial(protos.get_service().CreateTrialRequest(tuner_id="worker0"), timeout=30)
        chief.join(timeout=10)
    assert not chief.is_alive()


def test_workers_sharing_a_project_directory_agree_on_the_search_id(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    ids: list[str] = []

    def join() -> None:
        ids.append(SearchIdentity(project, objective="loss").search_id)

    threads = [threading.Thread(target=join) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 8 and len(set(ids)) == 1
    assert sorted(p.name for p in project.iterdir()) == ["kt_wandb.json"]  # no temporary file left


def test_the_search_id_variable_names_a_new_search_and_must_match_a_resumed_one(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    monkeypatch.setenv(SEARCH_ID_ENV, "shared01")
    assert SearchIdentity(tmp_path / "a").search_id == "shared01"
    monkeypatch.setenv(SEARCH_ID_ENV, "other02")
    with pytest.raises(ValueError, match=r"KT_WANDB_SEARCH_ID='other02'.*'shared01'.*To fix"):
        SearchIdentity(tmp_path / "a")
    monkeypatch.setenv(SEARCH_ID_ENV, "Not Valid!")
    with pytest.raises(ValueError, match=r"Expected KT_WANDB_SEARCH_ID to be 1 to 32.*'Not Valid!'"):
        SearchIdentity(tmp_path / "a")


def _launch(tmp_path: Path, max_trials: int, **env: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "kt_wandb.cli", "launch", "--workers", "2", "--gpus", "none", "--",
        sys.executable, str(SCRIPT), str(tmp_path / "search"), str(max_trials),
    ]
    return subprocess.run(
        command, env=child_env(**{"TRIAL_SLEEP": "1", **env}), capture_output=True, text=True, timeout=600,
        check=False,
    )


def _trials(project: Path) -> dict[str, dict]:
    return {
        p.parent.name: {**json.loads(p.read_text()), "run": json.loads((p.parent / "wandb_run.json").read_text())}
        for p in project.glob("trial_*/trial.json")
    }


@pytest.mark.slow
def test_a_chief_and_two_workers_run_each_trial_once_as_one_run_of_one_group(tmp_path, wandb_env):
    done = _launch(tmp_path, 6)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "[chief] done as chief: 6 trials, 6 completed" in done.stdout
    assert "[worker0] done as worker" in done.stdout and "[worker1] done as worker" in done.stdout

    trials = _trials(tmp_path / "search" / "search")
    assert len(trials) == 6 and all(t["status"] == "COMPLETED" for t in trials.values())
    runs = read_runs(wandb_env)  # raises if a run id was written twice
    assert sorted(runs) == sorted(t["run"]["run_id"] for t in trials.values())
    assert len({run.group for run in runs.values()}) == 1
    workers = {tag for run in runs.values() for tag in run.tags if tag.startswith("worker:")}
    assert workers == {"worker:worker0", "worker:worker1"}
    # Every run is a worker's: the chief opened none.
    assert all(run.exit_code == 0 and run.summary["trial/worker"] in ("worker0", "worker1") for run in runs.values())
    frame = results_frame(tmp_path / "search" / "search")
    assert len(frame) == 6 and set(frame.worker) == {"worker0", "worker1"}


def _completed_in_report(path: Path) -> tuple[int, bool] | None:
    """How many trials the report's table shows completed, and whether the page reloads; None where unwritten."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    found = re.search(r'<script type="application/json" id="trials-data">(.*?)</script>', text, flags=re.S)
    if found is None:  # the page that waits for the first trial
        return 0, "ktWandbStamp" in text
    table = json.loads(found.group(1))
    completed = sum(row[table["status"]] == "COMPLETED" for row in table["rows"])
    return completed, "ktWandbStamp" in text


@pytest.mark.slow
def test_the_chief_keeps_the_report_up_to_date_with_every_workers_trials(tmp_path, wandb_env):
    command = [
        sys.executable, "-m", "kt_wandb.cli", "launch", "--workers", "2", "--gpus", "none", "--",
        sys.executable, str(SCRIPT), str(tmp_path / "search"), "6",
    ]
    report = tmp_path / "search" / "search" / "report.html"
    log = tmp_path / "launch.log"
    with log.open("w") as out:  # a file, not a pipe that nobody reads while the test polls
        launch = subprocess.Popen(command, env=child_env(TRIAL_SLEEP="1"), stdout=out, stderr=subprocess.STDOUT)
        seen = set()
        deadline = time.monotonic() + 600
        while launch.poll() is None and time.monotonic() < deadline:  # what a user with the page open would see
            state = _completed_in_report(report)
            if state is not None:
                seen.add(state)
            time.sleep(0.1)
        launch.wait(timeout=60)
    assert launch.returncode == 0, log.read_text()[-4000:]
    assert any(0 < completed < 6 and live for completed, live in seen), seen  # while the workers' trials ended
    assert _completed_in_report(report) == (6, False)  # the final report, which no longer reloads


@pytest.mark.slow
def test_the_chief_prunes_each_workers_trials_from_every_workers_curves(tmp_path, wandb_env):
    done = _launch(tmp_path, 6, PRUNE="1", EPOCHS="4")
    assert done.returncode == 0, done.stdout[-4000:]
    project = tmp_path / "search" / "search"
    frame = results_frame(project).set_index("trial_id")
    decisions = [json.loads(line) for line in (tmp_path / "search" / "decisions.jsonl").read_text().splitlines()]
    assert {d["by"] for d in decisions} == {"chief"}  # the chief's oracle decides, for every worker
    stopped = {d["trial"] for d in decisions if d["stop"]}
    assert stopped and stopped == set(frame.index[frame.status == "PRUNED"])
    assert f"[chief] done as chief: 6 trials, 6 completed ({len(stopped)} pruned)" in done.stdout
    # A decision made from both workers' trials: the pruning of one worker's trial counted the other's.
    assert any(d["stop"] and {frame.worker[t] for t in d["seen"]} == {"worker0", "worker1"} for d in decisions)
    runs = read_runs(wandb_env)
    for trial_id, row in frame.iterrows():
        run = runs[row.wandb_run_id]
        pruned = trial_id in stopped
        assert ("pruned" in run.tags) is pruned and run.exit_code == 0
        assert len(run.history) == (2 if pruned else 4)
        assert run.summary["trial/status"] == ("PRUNED" if pruned else "COMPLETED")


@pytest.mark.slow
def test_a_worker_killed_mid_trial_loses_nothing_and_the_other_finishes_the_search(tmp_path, wandb_env):
    done = _launch(tmp_path, 6, KILL_WORKER="worker0", KT_WANDB_HEARTBEAT_TIMEOUT="5")
    # The launcher says which worker died; the search completed all the same, so the launch succeeds.
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "worker0 failed (killed by SIGKILL)" in done.stderr  # the launcher's own lines: on stderr
    assert "the search completed; lost on the way, their trials run by other workers: worker0 (killed by SIGKILL)" \
        in done.stderr
    assert "[chief] done as chief: 6 trials, 6 completed" in done.stdout

    trials = _trials(tmp_path / "search" / "search")
    assert len(trials) == 6 and all(t["status"] == "COMPLETED" for t in trials.values())
    # worker0's first trial, finished before it died, is kept as it was.
    assert any(t["run"]["worker"] == "worker0" and t["run"]["exit_code"] == 0 for t in trials.values())
    retried = [t for t in trials.values() if t["run"]["previous_attempts"]]
    assert len(retried) == 1
    (trial,) = retried
    assert trial["run"]["worker"] == "worker1" and trial["run"]["previous_attempts"][0]["worker"] == "worker0"
    first_attempt = trial["run"]["previous_attempts"][0]["run_id"]
    assert trial["run"]["run_id"] == f"{first_attempt}-r1"

    runs = read_runs(wandb_env)
    assert sorted(runs) == sorted([*(t["run"]["run_id"] for t in trials.values()), first_attempt])
    assert runs[trial["run"]["run_id"]].summary["trial/previous_run"] == first_attempt
    assert runs[first_attempt].exit_code is None  # killed: W&B shows it crashed


@pytest.mark.slow
def test_a_worker_is_not_dropped_while_a_long_build_or_a_slow_run_finish_keeps_it_busy(tmp_path, wandb_env):
    # Each trial's build (3 s) and its run's finish (4 s) outlast the heartbeat timeout (2 s): only the
    # heartbeat, beating through both, keeps the workers from being dropped and their trials run twice.
    done = _launch(tmp_path, 3, TRIAL_SLEEP="3", FINISH_SLEEP="4", KT_WANDB_HEARTBEAT_TIMEOUT="2")
    assert done.returncode == 0, done.stdout[-4000:]
    assert "silent for over" not in done.stdout + done.stderr  # the chief's word for a dropped worker
    assert "[chief] done as chief: 3 trials, 3 completed" in done.stdout
    runs = read_runs(wandb_env)
    assert len(runs) == 3 and not any("-r" in run_id for run_id in runs)  # each trial ran once


@pytest.mark.slow
@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_ctrl_c_to_the_launcher_finishes_every_workers_trial_run(tmp_path, wandb_env, sent):
    # A real search under the launcher, not a toy: Ctrl-C (or SIGTERM, a scheduler's stop) reaches each worker
    # mid-trial, and each finishes its trial's run as a search alone does; the chief writes the final report.
    command = [
        sys.executable, "-m", "kt_wandb.cli", "launch", "--workers", "2", "--gpus", "none", "--",
        sys.executable, str(SCRIPT), str(tmp_path / "search"), "4",
    ]
    launcher = subprocess.Popen(command, env=child_env(EPOCHS="1000"), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    project = tmp_path / "search" / "search"
    deadline = time.monotonic() + 300
    # Both workers are into their training: each trial has ended an epoch (KerasTuner's checkpoint of its best),
    # however long a loaded machine takes to get there.
    while len(list(project.glob("trial_*/checkpoint.weights.h5"))) < 2:
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()[0][-4000:]
        time.sleep(0.2)
    time.sleep(0.5)
    launcher.send_signal(sent)
    out, _ = launcher.communicate(timeout=120)
    assert launcher.returncode != 0, out[-4000:]
    assert _completed_in_report(project / "report.html") == (0, False), out[-4000:]  # final: it stopped reloading
    runs = read_runs(wandb_env)
    assert len(runs) == 2, out[-4000:]
    for run in runs.values():
        assert run.exit_code == 255 and run.summary["trial/status"] == "INTERRUPTED" and run.history
    assert {run.summary["trial/worker"] for run in runs.values()} == {"worker0", "worker1"}



@pytest.mark.slow
def test_a_hung_worker_is_ended_by_the_launcher_and_the_launch_ends_with_the_search(tmp_path, wandb_env):
    # worker0 stops (SIGSTOP, heartbeat thread included) in its second trial: the chief drops it and worker1 runs
    # that trial; the launcher, told by the chief, ends worker0 (a stopped process acts on no SIGTERM: SIGKILL
    # after the grace period) instead of waiting for it forever.
    call = ("import sys; from kt_wandb.launcher import launch; "
            "sys.exit(launch(sys.argv[1:], workers=2, gpus='none', grace_s=5))")
    command = [sys.executable, "-c", call, sys.executable, str(SCRIPT), str(tmp_path / "search"), "6"]
    token = "tok" + secrets.token_hex(16)  # the launcher's own, as on several hosts
    env = child_env(TRIAL_SLEEP="1", HANG_WORKER="worker0", KT_WANDB_HEARTBEAT_TIMEOUT="5", KT_WANDB_TOKEN=token)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    # The search completed: a lost worker fails nothing.
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "[launch] the chief dropped worker0 as silent: ending it (SIGTERM, then SIGKILL after 5 s)" in done.stderr
    assert "[launch] worker0 still runs 5 s after SIGTERM: SIGKILL" in done.stderr
    assert "[chief] done as chief: 6 trials, 6 completed" in done.stdout
    assert "[worker1] done as worker" in done.stdout and "[worker0] done as worker" not in done.stdout
    trials = _trials(tmp_path / "search" / "search")
    assert len(trials) == 6 and all(t["status"] == "COMPLETED" for t in trials.values())
    (retried,) = [t for t in trials.values() if t["run"]["previous_attempts"]]
    assert retried["run"]["worker"] == "worker1" and retried["run"]["previous_attempts"][0]["worker"] == "worker0"
    assert all(t["run"]["exit_code"] == 0 for t in trials.values())
    # The token is in no output, trial file or W&B run (config, metadata, history) of the search.
    assert token not in done.stdout + done.stderr
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]


def _completed(project: Path) -> int:
    done = 0
    for path in project.glob("trial_*/trial.json"):
        try:
            done += json.loads(path.read_text())["status"] == "COMPLETED"
        except (OSError, ValueError):  # being written
            pass
    return done


@pytest.mark.slow
def test_a_killed_chief_ends_the_launch_and_the_same_command_resumes_the_search(tmp_path, wandb_env):
    import psutil

    command = [
        sys.executable, "-m", "kt_wandb.cli", "launch", "--workers", "2", "--gpus", "none", "--",
        sys.executable, str(SCRIPT), str(tmp_path / "search"), "6",
    ]
    env = child_env(TRIAL_SLEEP="1", OVERWRITE="0")  # a script that resumes its search, as a user's would
    launcher = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    project = tmp_path / "search" / "search"
    deadline = time.monotonic() + 300
    while _completed(project) < 2:
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()[0][-4000:]
        time.sleep(0.2)
    (chief,) = [p for p in psutil.Process(launcher.pid).children() if p.environ().get("KERASTUNER_TUNER_ID") == "chief"]
    chief.send_signal(signal.SIGKILL)  # its host rebooted, say
    out, _ = launcher.communicate(timeout=180)
    assert launcher.returncode == 128 + 9, out[-4000:]
    assert "the chief failed (killed by SIGKILL): stopping worker0, worker1" in out
    assert _completed(project) < 6

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert "[chief] done as chief: 6 trials, 6 completed" in again.stdout
    trials = _trials(project)
    assert len(trials) == 6 and all(t["status"] == "COMPLETED" and t["run"]["exit_code"] == 0 for t in trials.values())
