"""`kt-wandb launch`: a distributed search on one machine, the chief and N workers started by one command.

The same script runs alone or under the launcher: KerasTuner reads its role
from the environment the launcher gives each process (`KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`). All processes start at once,
so that their start-up overlaps; a worker's `WandbTuner` waits for the chief to
serve the oracle before it touches the project directory, which the chief sets
up (and, with `overwrite=True`, wipes) first.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import IO

from kt_wandb._handshake import TOKEN_ENV, WORKERS_ENV
from kt_wandb.distribute._launch_run import Launch, ProcessPlan

__all__ = ["ProcessPlan", "launch", "parse_gpus", "plan_launch", "visible_gpus"]

# Thread counts a CPU-only worker gets, its share of the cores, unless the user set them.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
# What a process that must not train gets: no GPU (the chief's; a CPU-only worker's).
_CPU_ONLY = {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
# Seconds a stopped process has before SIGKILL: a worker first finishes its trial's W&B run, which may take
# `wandb_timeout / 2` (30 s by default), then exits.
DEFAULT_GRACE_S = 45.0


def visible_gpus(environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs this machine lets its processes use: `CUDA_VISIBLE_DEVICES` if set, else `nvidia-smi -L`."""
    env = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in env:
        return [g.strip() for g in env["CUDA_VISIBLE_DEVICES"].split(",") if g.strip() not in ("", "-1")]
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    if listed.returncode != 0:
        return []
    return [str(i) for i, line in enumerate(line for line in listed.stdout.splitlines() if line.startswith("GPU "))]


def parse_gpus(spec: str | Sequence[int | str] | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs to share among the workers.

    Args:
        spec: None or "all" (every visible GPU, none on a machine without),
            "none" (hide the GPUs: train on the CPU), "0,2", or a list of
            indices or GPU UUIDs.

    Raises:
        ValueError: For anything else.
    """
    if spec is None or spec == "all":
        return visible_gpus(environ)
    if spec == "none":
        return []
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s).strip() for s in spec]
    bad = [s for s in items if not (s.isdigit() or s.startswith(("GPU-", "MIG-")))]
    if not items or bad:
        raise ValueError(
            f"Expected --gpus to be 'all', 'none' or GPU indices such as '0,1', received {spec!r}. "
            f"To fix, list the GPUs by index (as nvidia-smi numbers them) or pass 'all'."
        )
    return items


def plan_launch(
    workers: int,
    *,
    gpus: Sequence[str] | None,
    host: str,
    port: int,
    memory_fraction: float = 0.9,
    cpus: int | None = None,
    compilation_cache: str | None = None,
    token: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[ProcessPlan]:
    """The chief's and each worker's variables.

    With `compilation_cache` (a folder), the workers share JAX's persistent
    compilation cache there, and with it XLA's GPU autotuning results, so that
    a convolution or matrix product tuned by one worker is not tuned again by
    the others; "off" turns JAX's cache off. The chief is told how many
    workers to expect (`KT_WANDB_WORKERS`); every process gets `token`, the
    search's secret (`KT_WANDB_TOKEN`), where one is given. Workers take the GPUs round robin.
    Workers sharing a GPU split `memory_fraction` of its memory (JAX's
    `XLA_PYTHON_CLIENT_MEM_FRACTION`; TensorFlow grows its share as needed). Without GPUs, each worker's thread
    pools get its share of the cores: `gpus=[]` hides the GPUs from the
    workers, `gpus=None` (none found) leaves their devices as they are. The
    chief trains nothing: it sees no GPU.

    Raises:
        ValueError: For a worker count below 1 or a fraction outside (0, 1].
    """
    env = os.environ if environ is None else environ
    _check_plan(workers, memory_fraction)
    common = {"KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    if token:
        common[TOKEN_ENV] = token
    chief = {**common, "KERASTUNER_TUNER_ID": "chief", WORKERS_ENV: str(workers), **_CPU_ONLY}
    if compilation_cache == "off":
        common["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    elif compilation_cache is not None:
        common["JAX_COMPILATION_CACHE_DIR"] = compilation_cache
    assigned = [gpus[i % len(gpus)] for i in range(workers)] if gpus else []
    threads = {k: str(max(1, (cpus or os.cpu_count() or 1) // workers)) for k in _THREAD_VARIABLES if k not in env}
    plans = [ProcessPlan("chief", chief)]
    for index in range(workers):
        worker = {**common, "KERASTUNER_TUNER_ID": f"worker{index}"}
        if assigned:
            worker.update(_gpu_share(assigned, index, memory_fraction))
        else:
            worker.update({**(_CPU_ONLY if gpus is not None else {}), **(threads if workers > 1 else {})})
        plans.append(ProcessPlan(f"worker{index}", worker))
    return plans


def _check_plan(workers: int, memory_fraction: float) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(
            f"Expected --workers to be a whole number, 1 or more, received {workers!r}. "
            f"To fix, pass for example --workers 4."
        )
    if not 0 < memory_fraction <= 1:
        raise ValueError(
            f"Expected the GPU memory fraction to be in (0, 1], received {memory_fraction!r}. "
            f"To fix, pass for example 0.9."
        )


def _check_grace(grace_s: float) -> None:
    if isinstance(grace_s, bool) or not isinstance(grace_s, (int, float)) or not 0 <= grace_s < math.inf:
        raise ValueError(
            f"Expected the grace period to be a number of seconds, 0 or more, received {grace_s!r}. "
            f"To fix, pass for example --grace 60 (grace_s=60)."
        )


def _gpu_share(assigned: list[str], index: int, memory_fraction: float) -> dict[str, str]:
    """Worker `index`'s GPU, and its share of the GPU's memory where other workers use it too."""
    gpu = assigned[index]
    sharing = assigned.count(gpu)
    if sharing == 1:
        return {"CUDA_VISIBLE_DEVICES": gpu}
    return {"CUDA_VISIBLE_DEVICES": gpu, "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{memory_fraction / sharing:.3f}",
            "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def _where(workers: int, gpus: list[str] | None) -> str:
    if not gpus:
        return "the CPU"
    return f"GPUs {','.join(gpus)} ({math.ceil(workers / len(gpus))} worker(s) a GPU at most)"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def launch(
    command: Sequence[str],
    *,
    workers: int,
    gpus: str | Sequence[int | str] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    memory_fraction: float = 0.9,
    compilation_cache: str | os.PathLike[str] = "auto",
    grace_s: float = DEFAULT_GRACE_S,
    output: IO[str] | None = None,
) -> int:
    """Runs `command` as the chief and `workers` workers of one distributed search, on this machine.

    Each line a process prints is streamed with its name (`[chief]`,
    `[worker0]`, ...). Ctrl-C, SIGTERM and SIGHUP are passed on to every process (a
    second Ctrl-C kills them). A worker that fails leaves the others going:
    the chief gives its trial to another worker after its heartbeat timeout.
    A worker the chief drops as silent (hung) is ended: SIGTERM, then SIGKILL
    after `grace_s`. When the chief fails, or every worker has, the rest are stopped.
    The processes share the search's token (`KT_WANDB_TOKEN`, through their
    environment only): the launcher's own if set, else a new random one.

    Args:
        command: The search script's command line, for example
            `["python", "my_search.py"]`: the same script that runs a search alone.
        workers: How many workers train trials.
        gpus: "all" or None (every visible GPU, round robin), "none" (CPU),
            or the GPUs to use ("0,1" or a list).
        host: The address the chief serves the oracle on.
        port: Its port (default: a free one).
        memory_fraction: Of a GPU's memory, what its workers share together.
        compilation_cache: A folder for JAX's persistent compilation cache,
            shared by the workers (XLA's GPU autotuning results included);
            "auto" (the default) uses `JAX_COMPILATION_CACHE_DIR` if set, else a
            temporary folder removed when the launch ends; "off" turns it off.
        grace_s: Seconds a process has to end after SIGTERM before SIGKILL (45: more than the 30 s a
            worker may spend finishing its trial's W&B run with the default `wandb_timeout`).
        output: Where the processes' output goes, and the launcher's own lines
            (`[launch] ...`) with it; by default the processes' to stdout and
            the launcher's to stderr.

    Returns:
        0 if every process succeeded, or if the search completed although
        workers were lost on the way (killed by a signal, or ended after the
        chief dropped them): other workers ran their trials. Otherwise the
        first failure's exit code (128 + n for a process killed by signal n,
        or for a launch interrupted by it).

    Examples:
        >>> from kt_wandb.launcher import launch
        >>> launch(["python", "my_search.py"], workers=4)  # doctest: +SKIP
        0
    """
    if isinstance(command, str) or not command:
        raise ValueError(
            f"Expected the search's command line as a list of words, received {command!r}. "
            f"To fix, pass for example ['python', 'my_search.py'] (on the command line: "
            f"kt-wandb launch --workers 2 -- python my_search.py)."
        )
    _check_grace(grace_s)
    gpu_list: list[str] | None = parse_gpus(gpus)
    if not gpu_list and gpus in (None, "all"):
        gpu_list = None  # none found: leave the workers' devices (another accelerator, say) as they are
    port = port or _free_port(host)
    cache = os.fspath(compilation_cache)
    if cache == "auto":
        cache = os.environ.get("JAX_COMPILATION_CACHE_DIR") or "auto"
    temporary = tempfile.mkdtemp(prefix="kt-wandb-jax-cache-") if cache == "auto" else None  # for this launch
    try:
        plans = plan_launch(
            workers, gpus=gpu_list, host=host, port=port, memory_fraction=memory_fraction,
            compilation_cache=temporary or cache, token=os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(32),
        )
        run = Launch(command, plans, output or sys.stdout, grace_s, notes=output or sys.stderr)
        run.say(f"{workers} worker(s) on {_where(workers, gpu_list)}")
        return run.run(host, port)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
