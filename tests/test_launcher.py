"""`kt-wandb launch`: its plan, and the real processes it starts, streams, signals and ends."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from kt_wandb.cli import main
from kt_wandb.launcher import launch, parse_gpus, plan_launch, visible_gpus
from tests.helpers.environment import child_env

# Stands in for a search script: the chief listens where a chief serves the oracle; workers do as told.
TOY = textwrap.dedent(
    """
    import os, signal, socket, sys, time
    me = os.environ["KERASTUNER_TUNER_ID"]
    if me == "chief":
        server = socket.create_server((os.environ["KERASTUNER_ORACLE_IP"], int(os.environ["KERASTUNER_ORACLE_PORT"])))
        print("serving", flush=True)
        time.sleep(600)
    mode = sys.argv[1]
    if mode == "work":
        print(f"{me} sees GPUs {os.environ['CUDA_VISIBLE_DEVICES']!r}")
        sys.exit(4 if me == "worker1" else 0)
    def said(signum, frame):
        print(f"{me} got {signal.Signals(signum).name}", flush=True)
        sys.exit(1)
    signal.signal(signal.SIGTERM, said)
    print(f"{me} waiting", flush=True)
    time.sleep(600)
    """
)


def test_workers_take_the_gpus_round_robin_and_split_a_shared_ones_memory():
    chief, *workers = plan_launch(3, gpus=["0", "1"], host="127.0.0.1", port=9000, memory_fraction=0.9)
    assert chief.env["KERASTUNER_TUNER_ID"] == "chief" and chief.env["CUDA_VISIBLE_DEVICES"] == ""
    assert [w.env["CUDA_VISIBLE_DEVICES"] for w in workers] == ["0", "1", "0"]
    assert [w.env.get("XLA_PYTHON_CLIENT_MEM_FRACTION") for w in workers] == ["0.450", None, "0.450"]
    assert [w.env["KERASTUNER_TUNER_ID"] for w in workers] == ["worker0", "worker1", "worker2"]
    assert {w.env["KERASTUNER_ORACLE_PORT"] for w in [chief, *workers]} == {"9000"}
    assert chief.env["KT_WANDB_WORKERS"] == "3"  # the chief serves until each has been told to stop


def test_cpu_workers_share_the_cores():
    _, *workers = plan_launch(2, gpus=[], host="127.0.0.1", port=9000, cpus=8, environ={})
    assert all(w.env["CUDA_VISIBLE_DEVICES"] == "" and w.env["OMP_NUM_THREADS"] == "4" for w in workers)
    _, *kept = plan_launch(2, gpus=[], host="127.0.0.1", port=9000, cpus=8, environ={"OMP_NUM_THREADS": "1"})
    assert all("OMP_NUM_THREADS" not in w.env for w in kept)  # the user's own setting stands
    _, *found_none = plan_launch(2, gpus=None, host="127.0.0.1", port=9000, cpus=8, environ={})
    assert all("CUDA_VISIBLE_DEVICES" not in w.env and "JAX_PLATFORMS" not in w.env for w in found_none)


# A chief that serves; workers that compile one JAX function and list JAX's persistent cache.
COMPILING = textwrap.dedent(
    """
    import os, signal, socket, sys, time
    if os.environ["KERASTUNER_TUNER_ID"] == "chief":  # ends when the launcher stops it, once the workers are done
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        server = socket.create_server((os.environ["KERASTUNER_ORACLE_IP"], int(os.environ["KERASTUNER_ORACLE_PORT"])))
        time.sleep(600)
    import jax
    jax.jit(lambda x: x * 2 + 1)(jax.numpy.arange(3.0)).block_until_ready()
    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    print("cache", cache, sorted(os.listdir(cache)) != [] if cache else None, flush=True)
    """
)


@pytest.mark.parametrize("setting", ["auto", "folder", "off"])
def test_workers_share_one_jax_compilation_cache(tmp_path, monkeypatch, setting):
    pytest.importorskip("jax")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    cache = str(tmp_path / "cache") if setting == "folder" else setting
    out = io.StringIO()
    code = launch([sys.executable, "-c", COMPILING], workers=2, gpus="none", grace_s=1, compilation_cache=cache,
                  output=out)
    text = out.getvalue()
    assert code == 0, text
    said = sorted(line.split(" ", 1)[1] for line in text.splitlines() if " cache " in line and "[worker" in line)
    if setting == "off":
        assert said == ["cache None None", "cache None None"]
        return
    folders = {line.split()[1] for line in said}
    assert len(folders) == 1 and all(line.endswith("True") for line in said), text  # one cache, written to
    (folder,) = folders
    if setting == "folder":
        assert folder == cache and os.listdir(cache)
    else:
        assert not os.path.exists(folder)  # a temporary cache goes with the launch


def test_gpu_lists():
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert parse_gpus("0, 2") == ["0", "2"] and parse_gpus("none") == [] and parse_gpus([1]) == ["1"]
    with pytest.raises(ValueError, match=r"Expected --gpus to be 'all', 'none' or GPU indices.*'cuda:0'.*To fix"):
        parse_gpus("cuda:0")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: launch([], workers=1), r"Expected the search's command line as a list of words, received \[\]"),
        (lambda: launch("python x.py", workers=1), r"received 'python x.py'.*To fix"),
        (lambda: launch(["python"], workers=0, gpus="none"), r"Expected --workers to be a whole number.*received 0"),
        (
            lambda: launch(["python"], workers=1, gpus="none", memory_fraction=1.5),
            r"Expected the GPU memory fraction to be in \(0, 1\], received 1.5",
        ),
        (
            lambda: launch(["python"], workers=1, gpus="none", grace_s=-1),
            r"Expected the grace period to be a number of seconds, 0 or more, received -1",
        ),
    ],
    ids=["no command", "a string", "no workers", "fraction", "grace"],
)
def test_bad_launch_arguments_are_refused_before_any_process_starts(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_cli_without_a_command_says_how_to_give_one(capsys):
    assert main(["launch", "--workers", "2", "--gpus", "none"]) == 2
    assert "kt-wandb launch --workers 2 -- python my_search.py" in capsys.readouterr().err


# The chief ends (once both workers wait) without serving; the workers wait for it as a WandbTuner's would.
WAITING_WORKER = textwrap.dedent(
    """
    import os, pathlib, signal, sys, time
    me, flags = os.environ["KERASTUNER_TUNER_ID"], pathlib.Path(os.environ["FLAGS"])
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # stopped workers end "well"
    if me == "chief":
        print("no tuner here", flush=True)
        while len(list(flags.iterdir())) < 2:
            time.sleep(0.1)
        raise SystemExit(int(os.environ["CHIEF_CODE"]))
    from kt_wandb.distribute import wait_for_chief
    print("waiting", flush=True)
    (flags / me).touch()
    wait_for_chief()
    """
)


@pytest.mark.parametrize("chief_code", [3, 0])
def test_a_chief_that_ends_before_serving_stops_the_waiting_workers(tmp_path, monkeypatch, chief_code):
    monkeypatch.setenv("CHIEF_CODE", str(chief_code))
    (tmp_path / "flags").mkdir()
    monkeypatch.setenv("FLAGS", str(tmp_path / "flags"))
    out = io.StringIO()
    code = launch([sys.executable, "-c", WAITING_WORKER], workers=2, gpus="none", grace_s=5, output=out)
    text = out.getvalue()
    assert code == (3 if chief_code else 1), text
    assert "[chief] no tuner here" in text and "[worker0] waiting" in text and "[worker1] waiting" in text
    verb = f"failed (exit code {chief_code})" if chief_code else "ended (exit code 0)"
    assert f"the chief {verb} before it served the oracle: stopping worker0, worker1" in text


# The chief fails once the worker ignores SIGTERM: only SIGKILL, after the grace period, ends the worker.
STUBBORN_WORKER = textwrap.dedent(
    """
    import os, pathlib, signal, sys, time
    flag = pathlib.Path(os.environ["FLAG"])
    if os.environ["KERASTUNER_TUNER_ID"] == "chief":
        while not flag.exists():
            time.sleep(0.1)
        sys.exit(3)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    flag.touch()
    time.sleep(300)
    """
)


def test_the_grace_period_before_sigkill_is_an_option_of_the_command_line(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("FLAG", str(tmp_path / "ignoring"))
    start = time.monotonic()
    code = main(["launch", "--workers", "1", "--gpus", "none", "--grace", "1", "--", sys.executable, "-c",
                 STUBBORN_WORKER])
    assert code == 3, capfd.readouterr().err
    assert "stopping worker0" in capfd.readouterr().err
    assert time.monotonic() - start < 25  # SIGKILL after 1 s, not the default 30 s


def test_a_worker_waits_for_the_chief_and_says_so_when_it_never_comes(monkeypatch, capsys):
    from kt_wandb.distribute import wait_for_chief

    with socket.socket() as probe:  # a port nobody serves
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
    with pytest.raises(TimeoutError, match=rf"Expected the chief to serve the oracle on 127.0.0.1:{port}.*To fix"):
        wait_for_chief(env, timeout_s=1.0, notice_after_s=0.3)
    assert f"waiting for the chief to serve the oracle on 127.0.0.1:{port}" in capsys.readouterr().err
    with socket.create_server(("127.0.0.1", port)):
        assert wait_for_chief(env, timeout_s=5.0) < 1.0


def test_output_is_prefixed_and_a_failed_worker_fails_the_launch(tmp_path):
    script = tmp_path / "toy.py"
    script.write_text(TOY)
    out = io.StringIO()
    code = launch([sys.executable, str(script), "work"], workers=2, gpus="none", grace_s=2, output=out)
    text = out.getvalue()
    assert code == 4, text
    assert "[chief] serving" in text
    assert "[worker0] worker0 sees GPUs ''" in text and "[worker1] worker1 sees GPUs ''" in text
    assert "worker1 failed (exit code 4)" in text
    assert "stopping chief" in text  # the chief (here, one that never ends) is stopped once no worker is left


def _launch_waiting_toys(tmp_path) -> tuple[subprocess.Popen[str], list[str]]:
    """A launcher (in a process of its own) whose chief serves and two workers wait; and what it printed so far."""
    script = tmp_path / "toy.py"
    script.write_text(TOY)
    call = (f"import sys; from kt_wandb.launcher import launch; "
            f"sys.exit(launch([sys.executable, {str(script)!r}, 'wait'], workers=2, gpus='none', grace_s=5))")
    proc = subprocess.Popen([sys.executable, "-c", call], stdout=subprocess.PIPE, text=True, env=child_env())
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while sum("waiting" in line for line in lines) < 2:
        assert time.monotonic() < deadline, lines
        lines.append(proc.stdout.readline())
    return proc, lines


def test_sigterm_to_the_launcher_reaches_every_process(tmp_path):
    proc, lines = _launch_waiting_toys(tmp_path)
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    text = "".join(lines) + rest
    assert proc.returncode == 128 + signal.SIGTERM, text
    assert "[worker0] worker0 got SIGTERM" in text and "[worker1] worker1 got SIGTERM" in text


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGHUP], ids=["launcher killed", "SIGHUP (ssh dropped)"])
def test_no_process_outlives_the_launcher(tmp_path, how):
    import psutil

    proc, _ = _launch_waiting_toys(tmp_path)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 3  # the chief and two workers
    proc.send_signal(how)
    rest, _ = proc.communicate(timeout=60)
    if how == signal.SIGHUP:  # passed on, as Ctrl-C and SIGTERM are: each worker ends as it would on its own
        assert proc.returncode == 128 + signal.SIGHUP, rest
    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], [p.cmdline() for p in alive]


# Each process writes down the token it was given; the chief serves and ends once both workers have.
TOKEN_TOY = textwrap.dedent(
    """
    import os, pathlib, socket, time
    me, flags = os.environ["KERASTUNER_TUNER_ID"], pathlib.Path(os.environ["FLAGS"])
    (flags / me).write_text(os.environ.get("KT_WANDB_TOKEN", ""))
    if me == "chief":
        server = socket.create_server((os.environ["KERASTUNER_ORACLE_IP"], int(os.environ["KERASTUNER_ORACLE_PORT"])))
        while len(list(flags.iterdir())) < 3:
            time.sleep(0.1)
    """
)


def _tokens(tmp_path, name: str) -> tuple[dict[str, str], str]:
    flags = tmp_path / name
    flags.mkdir()
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FLAGS", str(flags))
        command = [sys.executable, "-c", TOKEN_TOY]
        assert launch(command, workers=2, gpus="none", grace_s=2, output=out) == 0, out.getvalue()
    return {p.name: p.read_text() for p in flags.iterdir()}, out.getvalue()


def test_each_launch_gives_its_processes_a_fresh_token_through_their_environment_only(tmp_path, monkeypatch):
    monkeypatch.delenv("KT_WANDB_TOKEN", raising=False)
    first, said = _tokens(tmp_path, "first")
    second, _ = _tokens(tmp_path, "second")
    assert sorted(first) == ["chief", "worker0", "worker1"] and len(set(first.values())) == 1
    token = first["chief"]
    assert len(token) >= 32 and token not in said  # never in the launch's output
    assert set(second.values()) != {token}  # a fresh one each launch
    monkeypatch.setenv("KT_WANDB_TOKEN", "the-one-every-host-has")  # several hosts: the user's own
    assert set(_tokens(tmp_path, "set")[0].values()) == {"the-one-every-host-has"}
    plans = plan_launch(2, gpus=None, host="127.0.0.1", port=1, token="t0k3n")
    assert [p.env["KT_WANDB_TOKEN"] for p in plans] == ["t0k3n"] * 3


# worker0 hangs (SIGSTOP) or fails; the chief drops the hung one as a chief does, and completes the search
# once worker1 has finished.
HANGING_WORKER = textwrap.dedent(
    """
    import os, pathlib, signal, socket, sys, time
    from kt_wandb._handshake import DROPPED_LINE, SERVING_LINE
    me, flags = os.environ["KERASTUNER_TUNER_ID"], pathlib.Path(os.environ["FLAGS"])
    if me == "chief":
        server = socket.create_server((os.environ["KERASTUNER_ORACLE_IP"], int(os.environ["KERASTUNER_ORACLE_PORT"])))
        print(SERVING_LINE + "here", flush=True)
        while not (flags / "worker0").exists():
            time.sleep(0.1)
        if sys.argv[1] == "hang":
            time.sleep(1)
            print(DROPPED_LINE + "worker0: silent for over 1 s; trial 01 goes back to the queue.", flush=True)
        while not (flags / "worker1").exists():
            time.sleep(0.1)
        sys.exit(0)
    (flags / me).touch()
    if me == "worker0" and sys.argv[1] == "hang":
        os.kill(os.getpid(), signal.SIGSTOP)
    sys.exit(3 if me == "worker0" else 0)
    """
)


@pytest.mark.parametrize("worker0", ["hang", "fail"])
def test_a_worker_the_chief_dropped_is_ended_and_a_completed_search_forgives_only_lost_workers(
    tmp_path, monkeypatch, worker0
):
    (tmp_path / "flags").mkdir()
    monkeypatch.setenv("FLAGS", str(tmp_path / "flags"))
    out = io.StringIO()
    started = time.monotonic()
    code = launch([sys.executable, "-c", HANGING_WORKER, worker0], workers=2, gpus="none", grace_s=2, output=out)
    text = out.getvalue()
    assert time.monotonic() - started < 60, text  # the hung worker does not keep the launch going
    if worker0 == "fail":  # an error of the worker's own still fails the launch, search completed or not
        assert code == 3 and "worker0 failed (exit code 3)" in text, text
        return
    assert code == 0, text
    assert "the chief dropped worker0 as silent: ending it (SIGTERM, then SIGKILL after 2 s)" in text
    assert "worker0 still runs 2 s after SIGTERM: SIGKILL" in text  # stopped, it can't act on SIGTERM
    lost = "the search completed; lost on the way, their trials run by other workers: worker0 (killed by SIGKILL)"
    assert lost in text


def test_by_default_the_processes_lines_go_to_stdout_and_the_launchers_own_to_stderr(tmp_path):
    script = tmp_path / "toy.py"
    script.write_text(TOY)
    call = (f"import sys; from kt_wandb.launcher import launch; "
            f"sys.exit(launch([sys.executable, {str(script)!r}, 'work'], workers=2, gpus='none', grace_s=2))")
    done = subprocess.run([sys.executable, "-c", call], capture_output=True, text=True, env=child_env(), timeout=120)
    assert done.returncode == 4
    assert "[worker1] worker1 sees GPUs ''" in done.stdout and "[launch]" not in done.stdout
    assert "[launch] worker1 failed (exit code 4)" in done.stderr and "[worker1]" not in done.stderr
