"""`kt-wandb launch`: its plan, and the real processes it starts, streams, signals and ends."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import child_env

from kt_wandb.cli import main
from kt_wandb.launcher import launch, parse_gpus, plan_launch, visible_gpus

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


def test_cpu_workers_share_the_cores():
    _, *workers = plan_launch(2, gpus=[], host="127.0.0.1", port=9000, cpus=8, environ={})
    assert all(w.env["CUDA_VISIBLE_DEVICES"] == "" and w.env["OMP_NUM_THREADS"] == "4" for w in workers)
    _, *kept = plan_launch(2, gpus=[], host="127.0.0.1", port=9000, cpus=8, environ={"OMP_NUM_THREADS": "1"})
    assert all("OMP_NUM_THREADS" not in w.env for w in kept)  # the user's own setting stands
    _, *found_none = plan_launch(2, gpus=None, host="127.0.0.1", port=9000, cpus=8, environ={})
    assert all("CUDA_VISIBLE_DEVICES" not in w.env and "JAX_PLATFORMS" not in w.env for w in found_none)


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
    ],
    ids=["no command", "a string", "no workers", "fraction"],
)
def test_bad_launch_arguments_are_refused_before_any_process_starts(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_cli_without_a_command_says_how_to_give_one(capsys):
    assert main(["launch", "--workers", "2", "--gpus", "none"]) == 2
    assert "kt-wandb launch --workers 2 -- python my_search.py" in capsys.readouterr().err


def test_a_chief_that_ends_before_serving_starts_no_worker(tmp_path):
    out = io.StringIO()
    code = launch([sys.executable, "-c", "print('no tuner here'); raise SystemExit(3)"], workers=2, gpus="none",
                  output=out)
    assert code == 3
    text = out.getvalue()
    assert "[chief] no tuner here" in text and "before it served the oracle; no worker was started" in text
    assert "[worker" not in text


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


def test_sigterm_to_the_launcher_reaches_every_process(tmp_path):
    script = tmp_path / "toy.py"
    script.write_text(TOY)
    call = (f"import sys; from kt_wandb.launcher import launch; "
            f"sys.exit(launch([sys.executable, {str(script)!r}, 'wait'], workers=2, gpus='none', grace_s=5))")
    proc = subprocess.Popen([sys.executable, "-c", call], stdout=subprocess.PIPE, text=True, env=child_env())
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while sum("waiting" in line for line in lines) < 2:
        assert time.monotonic() < deadline, lines
        lines.append(proc.stdout.readline())
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    text = "".join(lines) + rest
    assert proc.returncode == 128 + signal.SIGTERM, text
    assert "[worker0] worker0 got SIGTERM" in text and "[worker1] worker1 got SIGTERM" in text
