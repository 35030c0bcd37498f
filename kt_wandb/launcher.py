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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from kt_wandb._handshake import SERVING_LINE, WORKERS_ENV, answers

__all__ = ["ProcessPlan", "launch", "parse_gpus", "plan_launch", "visible_gpus"]

# Thread counts a CPU-only worker gets, its share of the cores, unless the user set them.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


@dataclass(frozen=True)
class ProcessPlan:
    """One process of a launch: its name (`chief`, `worker<i>`) and the variables it gets."""

    name: str
    env: dict[str, str]


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
    environ: Mapping[str, str] | None = None,
) -> list[ProcessPlan]:
    """The chief's and each worker's variables.

    With `compilation_cache` (a folder), the workers share JAX's persistent
    compilation cache there, and with it XLA's GPU autotuning results, so that
    a convolution or matrix product tuned by one worker is not tuned again by
    the others; "off" turns JAX's cache off. The chief is told how many
    workers to expect (`KT_WANDB_WORKERS`). Workers take the GPUs round robin.
    Workers sharing a GPU split `memory_fraction` of its memory (JAX's
    `XLA_PYTHON_CLIENT_MEM_FRACTION`; TensorFlow grows its share as needed). Without GPUs, each worker's thread
    pools get its share of the cores: `gpus=[]` hides the GPUs from the
    workers, `gpus=None` (none found) leaves their devices as they are. The
    chief trains nothing: it sees no GPU.

    Raises:
        ValueError: For a worker count below 1 or a fraction outside (0, 1].
    """
    env = os.environ if environ is None else environ
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
    common = {"KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    cpu_only = {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    chief = {**common, "KERASTUNER_TUNER_ID": "chief", WORKERS_ENV: str(workers), **cpu_only}
    plans = [ProcessPlan("chief", chief)]
    assigned = [gpus[i % len(gpus)] for i in range(workers)] if gpus else []
    sharing = {gpu: assigned.count(gpu) for gpu in assigned}
    threads = max(1, (cpus or os.cpu_count() or 1) // workers)
    if compilation_cache == "off":
        common["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    elif compilation_cache is not None:
        common["JAX_COMPILATION_CACHE_DIR"] = compilation_cache
    for index in range(workers):
        name = f"worker{index}"
        worker = {**common, "KERASTUNER_TUNER_ID": name}
        if assigned:
            gpu = assigned[index]
            worker["CUDA_VISIBLE_DEVICES"] = gpu
            if sharing[gpu] > 1:
                worker["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{memory_fraction / sharing[gpu]:.3f}"
                worker["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
        else:
            if gpus is not None:
                worker.update(cpu_only)
            if workers > 1:
                worker.update({k: str(threads) for k in _THREAD_VARIABLES if k not in env})
        plans.append(ProcessPlan(name, worker))
    return plans


def _die_with_parent() -> Any:
    """What a child runs before its command, on Linux: SIGTERM when the launcher dies, however it dies.

    The children start in sessions of their own (so that Ctrl-C reaches them once, through the
    launcher), which also keeps a closed terminal from reaching them: without this, a launcher killed
    by SIGKILL or the OOM killer would leave them holding the GPUs.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # the launcher died before this line: nothing would send the signal
            os.kill(os.getpid(), signal.SIGTERM)

    return set_death_signal


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Launch:
    """Starts the processes, streams their output, forwards signals, and ends them all."""

    def __init__(self, command: Sequence[str], plans: list[ProcessPlan], output: IO[str], grace_s: float) -> None:
        self.command = list(command)
        self.plans = plans
        self.output = output
        self.grace_s = grace_s
        self.lock = threading.Lock()
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.readers: list[threading.Thread] = []
        self.signalled: int | None = None
        self.failed: list[str] = []  # in the order their failures were seen
        self.stopped: set[str] = set()  # stopped by the launcher itself
        self.served = False  # the chief has served the oracle (said so, or answered on its port)
        self.unserved = False  # the chief ended without ever serving the oracle

    def say(self, text: str) -> None:
        with self.lock:
            self.output.write(f"[launch] {text}\n")
            self.output.flush()

    def start(self, plan: ProcessPlan) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}  # never the launcher's own service
        env.update(plan.env)
        proc = subprocess.Popen(
            self.command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace", bufsize=1, start_new_session=True, preexec_fn=_die_with_parent(),
        )
        self.procs[plan.name] = proc
        reader = threading.Thread(target=self.pump, args=(plan.name, proc), daemon=True)
        reader.start()
        self.readers.append(reader)
        return proc

    def pump(self, name: str, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if name == "chief" and line.startswith(SERVING_LINE):
                self.served = True
            with self.lock:
                self.output.write(f"[{name}] {line if line.endswith(chr(10)) else line + chr(10)}")
                self.output.flush()

    def signal_all(self, signum: int) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signum)
                except ProcessLookupError:
                    pass

    def forward(self, signum: int, frame: Any) -> None:
        if self.signalled == signum:  # asked twice: stop at once
            self.signal_all(signal.SIGKILL)
            return
        self.signalled = signum
        self.say(f"{signal.Signals(signum).name}: passed on to every process; again to kill them")
        self.signal_all(signum)

    def stop(self, names: list[str], why: str) -> None:
        """SIGTERM, then SIGKILL after the grace period."""
        live = [n for n in names if self.procs[n].poll() is None]
        if not live:
            return
        self.say(f"{why}: stopping {', '.join(live)}")
        self.stopped.update(live)
        for name in live:
            try:
                os.killpg(self.procs[name].pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline and any(self.procs[n].poll() is None for n in live):
            time.sleep(0.1)
        for name in live:
            if self.procs[name].poll() is None:
                try:
                    os.killpg(self.procs[name].pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.procs[name].wait()

    def note_exits(self) -> None:
        for name, proc in self.procs.items():
            code = proc.returncode
            if code is None or code == 0 or name in self.failed:
                continue
            self.failed.append(name)
            if name in self.stopped or self.signalled:
                continue
            extra = "" if name == "chief" else (
                "; its trial goes to another worker once the chief's heartbeat timeout passes"
            )
            self.say(f"{name} failed ({_exit_text(code)}){extra}")

    def supervise(self, host: str, port: int) -> None:
        workers = [p.name for p in self.plans[1:]]
        chief = self.procs["chief"]
        chief_deadline: float | None = None
        started = probed = said = time.monotonic()
        while True:
            time.sleep(0.2)
            for proc in self.procs.values():
                proc.poll()
            if not self.served and any(self.procs[n].returncode == 0 for n in workers):
                self.served = True  # a worker finished its search: the chief served
            if not self.served and chief.returncode is None and time.monotonic() - probed >= 0.5:
                probed = time.monotonic()
                self.served = answers(host, port)
                if not self.served and probed - said > 60:
                    said = probed
                    self.say(f"still waiting for the chief to serve the oracle on {host}:{port} after "
                             f"{probed - started:.0f} s (its script must call search() on a WandbTuner)")
            self.note_exits()
            live = [n for n in workers if self.procs[n].returncode is None]
            if chief.returncode is not None:
                if live and (chief.returncode != 0 or not self.served):
                    self.unserved = not self.served
                    before = "" if self.served else " before it served the oracle"
                    verb = "failed" if chief.returncode != 0 else "ended"
                    self.stop(live, f"the chief {verb} ({_exit_text(chief.returncode)}){before}")
                elif live:
                    continue  # the workers are reading the finished search
                break
            if live:
                continue
            if chief_deadline is None:  # no worker left: the chief ends on its own once a worker finished
                finished = any(self.procs[n].returncode == 0 for n in workers)
                chief_deadline = time.monotonic() + (self.grace_s if finished else 0)
                if not finished:
                    self.say("every worker failed; the search can't go on")
            if time.monotonic() >= chief_deadline:
                self.stop(["chief"], "no worker left")
                break

    def run(self, host: str, port: int) -> int:
        restore = self.handle_signals()
        try:
            # All at once: a worker's WandbTuner waits for the chief to serve before it touches the project
            # directory, and the processes' start-up (imports, devices) overlaps.
            self.say(f"chief on {host}:{port} and {len(self.plans) - 1} worker(s): {' '.join(self.command)}")
            for plan in self.plans:
                self.start(plan)
            self.supervise(host, port)
            return self.exit_code()
        finally:
            restore()
            self.stop(list(self.procs), "the launcher is ending")
            for reader in self.readers:
                reader.join(timeout=5)

    def exit_code(self) -> int:
        if self.signalled:
            return 128 + self.signalled
        for proc in self.procs.values():
            proc.poll()
        self.note_exits()
        if self.unserved and self.procs["chief"].returncode == 0:
            self.say("failed: the chief ended without serving the oracle (its script must call search() on a "
                     "WandbTuner)")
            return 1
        # What the launcher stopped itself counts only where nothing else failed.
        failed = [n for n in self.failed if n not in self.stopped] or self.failed
        if not failed:
            return 0
        self.say("failed: " + ", ".join(f"{n} ({_exit_text(self.procs[n].returncode or 0)})" for n in failed))
        code = self.procs[failed[0]].returncode or 1
        return 128 - code if code < 0 else code

    def handle_signals(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        forwarded = [signal.SIGINT, signal.SIGTERM]
        hangup = getattr(signal, "SIGHUP", None)
        if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:  # a closed ssh session; not nohup
            forwarded.append(hangup)
        previous = {s: signal.signal(s, self.forward) for s in forwarded}

        def restore() -> None:
            for s, handler in previous.items():
                signal.signal(s, signal.SIG_DFL if handler is None else handler)  # None: C code's, not Python's

        return restore


def launch(
    command: Sequence[str],
    *,
    workers: int,
    gpus: str | Sequence[int | str] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    memory_fraction: float = 0.9,
    compilation_cache: str | os.PathLike[str] = "auto",
    grace_s: float = 30.0,
    output: IO[str] | None = None,
) -> int:
    """Runs `command` as the chief and `workers` workers of one distributed search, on this machine.

    Each line a process prints is streamed with its name (`[chief]`,
    `[worker0]`, ...). Ctrl-C, SIGTERM and SIGHUP are passed on to every process (a
    second Ctrl-C kills them). A worker that fails leaves the others going:
    the chief gives its trial to another worker after its heartbeat timeout.
    When the chief fails, or every worker has, the rest are stopped.

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
        grace_s: Seconds a process has to end after SIGTERM before SIGKILL.
        output: Where the processes' output goes (default: stdout).

    Returns:
        0 if every process succeeded; otherwise the first failure's exit code
        (128 + n for a process killed by signal n, or for a launch interrupted by it).

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
            compilation_cache=temporary or cache,
        )
        if gpu_list:
            per_gpu = math.ceil(workers / len(gpu_list))
            where = f"GPUs {','.join(gpu_list)} ({per_gpu} worker(s) a GPU at most)"
        else:
            where = "the CPU"
        run = _Launch(command, plans, output or sys.stdout, grace_s)
        run.say(f"{workers} worker(s) on {where}")
        return run.run(host, port)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
