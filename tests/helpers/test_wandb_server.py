"""The W&B server double, through the real wandb client (wandb-core): runs, artifacts and each fault mode."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import wandb

from tests.helpers.environment import child_env
from tests.helpers.wandb_server import WandbServer, closed_port_url


def log_run(run_id: str, steps: int = 3, **settings: object) -> wandb.Run:
    """A run logged online: config, group, tags, `steps` history rows, a summary; not finished."""
    run = wandb.init(project="double", group="g1", tags=["a", "b"], config={"lr": 0.01, "units": 8}, id=run_id,
                     name=f"run {run_id}", reinit="create_new", settings=wandb.Settings(**settings))
    run.define_metric("loss", summary="min")
    for step in range(steps):
        run.log({"loss": 1.0 / (step + 1), "epoch": step})
    run.summary.update({"best_epoch": steps - 1})
    return run


def assert_whole(server: WandbServer, run_id: str, steps: int = 3) -> None:
    run = server.runs[run_id]
    assert (run.entity, run.project, run.name, run.group, run.tags) == ("team", "double", f"run {run_id}", "g1",
                                                                        ["a", "b"])
    assert run.config == {"lr": 0.01, "units": 8}
    assert [(row["_step"], row["loss"], row["epoch"]) for row in run.history] == [
        (step, 1.0 / (step + 1), step) for step in range(steps)
    ]
    assert run.summary["best_epoch"] == steps - 1 and run.summary["loss"] == {"min": 1.0 / steps}
    assert (run.state, run.exit_code) == ("finished", 0)
    assert {"wandb-summary.json", "config.yaml", "wandb-metadata.json"} <= set(run.files)


def assert_no_errors_logged(run: wandb.Run) -> None:
    """Nothing wandb-core logged for `run` is a warning or an error (a retry, an answer it couldn't read)."""
    log = Path(run.dir).parent / "logs" / "debug-internal.log"
    levels = [json.loads(line)["level"] for line in log.read_text().splitlines() if line.startswith("{")]
    assert levels and set(levels) <= {"DEBUG", "INFO"}, log.read_text()


def test_a_run_logged_online_is_whole_on_the_server_when_finish_returns(online_wandb):
    run = log_run("whole1")
    run.finish(exit_code=0)
    assert_whole(online_wandb, "whole1")  # no wait: wandb-core's file stream was complete before finish returned
    assert_no_errors_logged(run)
    # At init, then with the config and metadata (and again at finish on a run of more than a few seconds).
    assert online_wandb.operations()[0] == "UpsertBucket" and online_wandb.count("UpsertBucket") >= 2
    assert online_wandb.count("CreateRunFiles") >= 1


def test_wandb_api_reads_the_runs_back(online_wandb):
    log_run("read1").finish()
    api = wandb.Api()
    (found,) = api.runs("team/double", filters={"group": "g1"})
    assert (found.id, found.name, found.state, found.config) == ("read1", "run read1", "finished",
                                                                 {"lr": 0.01, "units": 8})
    assert api.run("team/double/read1").summary["best_epoch"] == 2
    assert not api.runs("team/double", filters={"group": "other"})
    assert online_wandb.count("Runs") == 2


def test_a_failed_run_says_its_exit_code(online_wandb):
    wandb.init(project="double", id="failed1", reinit="create_new").finish(exit_code=3)
    assert (online_wandb.runs["failed1"].state, online_wandb.runs["failed1"].exit_code) == ("failed", 3)


def test_an_artifact_logged_online_is_on_the_server_with_its_file_and_alias(online_wandb, tmp_path):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\x00weights\xff")
    run = wandb.init(project="double", id="art1", reinit="create_new")
    artifact = wandb.Artifact("model-x", type="model")
    artifact.add_file(str(weights))
    run.log_artifact(artifact, aliases=["best"])
    run.finish()
    stored = online_wandb.artifact("model-x")
    assert (stored.type, stored.run_id, stored.state, stored.version) == ("model", "art1", "COMMITTED", 0)
    assert set(stored.aliases) == {"best", "latest"}
    assert stored.files == {"weights.bin": b"\x00weights\xff"}
    assert set(stored.manifest["contents"]) == {"weights.bin"}
    assert online_wandb.runs["art1"].state == "finished"
    assert_no_errors_logged(run)


# The faults.


def test_a_401_fails_init_with_the_servers_refusal(online_wandb):
    online_wandb.unauthorized()
    started = time.monotonic()
    with pytest.raises(wandb.errors.CommError):
        wandb.init(project="double", id="denied1", reinit="create_new", settings=wandb.Settings(init_timeout=20))
    assert time.monotonic() - started < 20
    assert "denied1" not in online_wandb.runs


def test_a_closed_port_fails_init_within_its_timeout(online_wandb):
    started = time.monotonic()
    with pytest.raises(wandb.errors.CommError):
        wandb.init(project="double", id="closed1", reinit="create_new",
                   settings=wandb.Settings(init_timeout=5, base_url=closed_port_url()))
    assert time.monotonic() - started < 15


def test_a_stalled_server_times_init_out(online_wandb):
    online_wandb.stall()
    started = time.monotonic()
    with pytest.raises(wandb.errors.CommError, match="Timed out initializing run"):
        wandb.init(project="double", id="stalled1", reinit="create_new", settings=wandb.Settings(init_timeout=5))
    assert 5 <= time.monotonic() - started < 15


def test_a_run_whose_server_stalls_after_init_finishes_within_its_finish_timeout(online_wandb):
    run = log_run("stalled2", finish_timeout=3, finish_timeout_raises=True)
    online_wandb.stall()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        run.finish()
    assert 3 <= time.monotonic() - started < 10
    assert online_wandb.runs["stalled2"].state == "running"  # the end never arrived


def test_a_run_through_a_few_seconds_of_500_arrives_whole(online_wandb):
    online_wandb.fail(500, seconds=2)
    run = log_run("flaky1")
    run.finish()
    assert_whole(online_wandb, "flaky1")
    assert any(r.status == 500 for r in online_wandb.requests)


def test_a_run_through_latency_arrives_whole_later(online_wandb):
    online_wandb.latency = 0.5
    started = time.monotonic()
    log_run("slow1").finish()
    assert_whole(online_wandb, "slow1")
    assert time.monotonic() - started > 0.5 * online_wandb.count("UpsertBucket")


def test_a_run_whose_server_was_killed_is_synced_whole_once_it_is_back(online_wandb):
    run = log_run("killed1", finish_timeout=3)
    online_wandb.kill()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(online_wandb.url.rsplit(":", 1)[1])), timeout=1)
    started = time.monotonic()
    run.finish()
    assert time.monotonic() - started < 10
    assert online_wandb.runs["killed1"].state == "running"  # its end never arrived
    online_wandb.restart()
    command = [sys.executable, "-m", "wandb", "sync", "--include-online", str(Path(run.dir).parent)]
    sync = subprocess.run(command, env=child_env(), capture_output=True, text=True, timeout=120)
    assert sync.returncode == 0, sync.stderr
    assert_whole(online_wandb, "killed1")


def test_an_upload_sent_in_chunks_is_recorded_whole(wandb_server):
    host, port = wandb_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("PUT", "/upload/run/team/p/r/weights.bin", body=iter([b"ab", b"", b"cd"]), encode_chunked=True)
    assert connection.getresponse().status == 200
    assert wandb_server.uploads["/upload/run/team/p/r/weights.bin"] == b"abcd"
