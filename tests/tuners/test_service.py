"""Pins what each use of wandb's private internals (`kt_wandb.tuners._service`) relies on, in the real wandb.

Each test fails where a new wandb behaves otherwise, naming the call to revisit. The search-level guarantees
they carry are tested in test_wandb_failures.py (whole on disk, offline fallback, a killed wandb-core).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest

from kt_wandb.tuners import _service


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def wandb_core() -> psutil.Process:
    (core,) = [p for p in psutil.Process().children(recursive=True) if p.name() == "wandb-core"]
    return core


def test_wait_written_is_answered_only_once_the_service_has_handled_what_came_before(wandb_env):
    import wandb

    with wandb.init(project="pin", reinit="create_new"):
        pass
    core = wandb_core()
    core.suspend()
    resumed: list[float] = []

    def resume() -> None:
        resumed.append(time.monotonic())
        core.resume()

    threading.Timer(1.0, resume).start()
    assert _service.wait_written() is True
    assert resumed and time.monotonic() >= resumed[0]  # it waited for the paused service's answer


def test_a_failed_online_start_keeps_its_id_in_use_until_drop_stream(wandb_env, monkeypatch):
    import wandb

    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    settings = wandb.Settings(base_url=closed_port(), init_timeout=3)
    with pytest.raises(wandb.errors.CommError):
        wandb.init(id="pinned", mode="online", settings=settings, reinit="create_new", project="pin")
    with pytest.raises(Exception, match="is in use"):  # why the drop exists
        wandb.init(id="pinned", mode="offline", reinit="create_new", project="pin")
    assert _service.drop_stream("pinned", timeout=10) is True
    with wandb.init(id="pinned", mode="offline", reinit="create_new", project="pin") as run:
        assert run.id == "pinned"


def test_a_start_without_an_api_key_fails_before_the_service_has_a_stream(wandb_env, monkeypatch):
    import wandb

    wandb.teardown()  # wandb reads the environment once per process
    monkeypatch.setenv("WANDB_BASE_URL", closed_port())
    with pytest.raises(wandb.errors.UsageError) as raised:
        wandb.init(id="nokey", mode="online", reinit="create_new", project="pin")
    assert _service.stream_started(raised.value) is False
    with wandb.init(id="nokey", mode="offline", reinit="create_new", project="pin") as run:  # no stream to drop
        assert run.id == "nokey"


def test_skip_requirements_leaves_the_package_list_out_of_a_run(wandb_env):
    import wandb

    kept = wandb.init(project="pin", reinit="create_new")
    kept.finish()
    skipped = wandb.init(project="pin", reinit="create_new", settings=_service.skip_requirements(None))
    skipped.finish()
    _service.wait_written()
    assert (Path(kept.dir) / "requirements.txt").exists()
    assert not (Path(skipped.dir) / "requirements.txt").exists()


def test_service_alive_tells_a_killed_service_and_forget_dead_service_lets_a_new_one_start(wandb_env):
    import wandb

    with wandb.init(project="pin", reinit="create_new"):
        pass
    assert _service.service_alive() is True
    core = wandb_core()
    os.kill(core.pid, 9)
    core.wait(10)
    assert _service.service_alive() is False
    _service.forget_dead_service()
    with wandb.init(project="pin", reinit="create_new") as run:
        assert run.id
    assert wandb_core().pid != core.pid and _service.service_alive() is True


def test_an_sdk_without_an_internal_is_said_once_and_the_search_goes_on(monkeypatch, caplog):
    # A wandb whose internals moved can't be installed beside this one: its absence is made by hand.
    def moved():
        raise AttributeError("module 'wandb.sdk.wandb_setup' has no attribute 'singleton'")

    monkeypatch.setattr(_service, "_singleton", moved)
    monkeypatch.setattr(_service, "_said", set())
    with caplog.at_level(logging.WARNING, logger="kt_wandb"):
        assert _service.wait_written() is False
        assert _service.wait_written() is False
    (said,) = [r.getMessage() for r in caplog.records]
    assert "lacks what kt-wandb uses to wait until a finished run is whole on disk" in said
    assert "written: false" in said and "install the version pyproject.toml names" in said
