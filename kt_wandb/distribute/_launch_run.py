"""`kt-wandb launch`'s processes: started, their output streamed, signals passed on, and ended.

The launcher (`kt_wandb.launcher`) plans each process's variables; this runs
them. It reads two lines of the chief's (`kt_wandb._handshake`): that it
serves the oracle, and that it dropped a worker as silent, which the launcher
then ends (SIGTERM, then SIGKILL after the grace period): a hung worker would
otherwise keep the launch from ending after the search has.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from kt_wandb._handshake import DROPPED_LINE, SERVING_LINE, answers

__all__ = ["Launch", "ProcessPlan"]


@dataclass(frozen=True)
class ProcessPlan:
    """One process of a launch: its name (`chief`, `worker<i>`) and the variables it gets."""

    name: str
    env: dict[str, str]


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


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _kill_group(proc: subprocess.Popen[str], signum: int) -> None:
    """Sends `signum` to the process and its children (its session's group), if it still runs."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            pass


class Launch:
    """Starts the processes, streams their output, forwards signals, and ends them all.

    The processes' lines go to `output`; the launcher's own (`[launch] ...`: which process died or was ended,
    why the launch failed) to `notes`.
    """

    def __init__(
        self, command: Sequence[str], plans: list[ProcessPlan], output: IO[str], grace_s: float,
        notes: IO[str] | None = None,
    ) -> None:
        self.command = list(command)
        self.plans = plans
        self.output = output
        self.notes = output if notes is None else notes
        self.grace_s = grace_s
        self.lock = threading.Lock()
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.readers: list[threading.Thread] = []
        self.signalled: int | None = None
        self.failed: list[str] = []  # in the order their failures were seen
        self.stopped: set[str] = set()  # stopped by the launcher itself
        self.served = False  # the chief has served the oracle (said so, or answered on its port)
        self.unserved = False  # the chief ended without ever serving the oracle
        self.dropped: list[str] = []  # workers the chief said it dropped as silent, in that order
        self.ending: dict[str, float] = {}  # dropped workers sent SIGTERM: when they get SIGKILL
        self._started = self._probed = self._said = time.monotonic()

    def say(self, text: str) -> None:
        with self.lock:
            self.notes.write(f"[launch] {text}\n")
            self.notes.flush()

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
            if name == "chief" and line.startswith(DROPPED_LINE):
                with self.lock:
                    self.dropped.append(line[len(DROPPED_LINE):].split(":", 1)[0].strip())
            with self.lock:
                self.output.write(f"[{name}] {line if line.endswith(chr(10)) else line + chr(10)}")
                self.output.flush()

    def signal_all(self, signum: int) -> None:
        for proc in self.procs.values():
            _kill_group(proc, signum)

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
            _kill_group(self.procs[name], signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline and any(self.procs[n].poll() is None for n in live):
            time.sleep(0.1)
        for name in live:
            _kill_group(self.procs[name], signal.SIGKILL)
            self.procs[name].wait()

    def end_dropped(self) -> None:
        """Ends the workers the chief dropped as silent (hung, stopped): SIGTERM, then SIGKILL after the grace period.

        Without this, a hung worker would keep the launch going after the search is over. The others go on meanwhile.
        """
        with self.lock:
            dropped = [n for n in self.dropped if n in self.procs and n not in self.ending]
        for name in dropped:
            self.ending[name] = time.monotonic() + self.grace_s
            if self.procs[name].poll() is None:
                self.say(f"the chief dropped {name} as silent: ending it (SIGTERM, then SIGKILL after "
                         f"{self.grace_s:g} s)")
                self.stopped.add(name)
                _kill_group(self.procs[name], signal.SIGTERM)
        for name, deadline in self.ending.items():
            if time.monotonic() >= deadline and self.procs[name].poll() is None:
                self.say(f"{name} still runs {self.grace_s:g} s after SIGTERM: SIGKILL")
                _kill_group(self.procs[name], signal.SIGKILL)
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
        """Until the launch is over: watches for the chief to serve, ends dropped workers, stops what must stop."""
        workers = [p.name for p in self.plans[1:]]
        chief_deadline: float | None = None
        while True:
            time.sleep(0.2)
            for proc in self.procs.values():
                proc.poll()
            self.watch_serving(host, port, workers)
            self.note_exits()
            self.end_dropped()
            live = [n for n in workers if self.procs[n].returncode is None]
            if self.procs["chief"].returncode is not None:
                if self.after_chief(live):
                    break
                continue
            if live:
                continue
            if chief_deadline is None:  # no worker left: the chief ends on its own once a worker finished
                chief_deadline = self.no_worker_left(workers)
            if time.monotonic() >= chief_deadline:
                self.stop(["chief"], "no worker left")
                break

    def watch_serving(self, host: str, port: int, workers: list[str]) -> None:
        """Whether the chief serves yet: its line, a worker that finished, or an answer on its port."""
        if not self.served and any(self.procs[n].returncode == 0 for n in workers):
            self.served = True  # a worker finished its search: the chief served
        if self.served or self.procs["chief"].returncode is not None or time.monotonic() - self._probed < 0.5:
            return
        self._probed = time.monotonic()
        self.served = answers(host, port)
        if not self.served and self._probed - self._said > 60:
            self._said = self._probed
            self.say(f"still waiting for the chief to serve the oracle on {host}:{port} after "
                     f"{self._probed - self._started:.0f} s (its script must call search() on a WandbTuner)")

    def after_chief(self, live: list[str]) -> bool:
        """Once the chief has ended: whether the launch is over (workers waiting on a failed chief are stopped)."""
        chief = self.procs["chief"]
        if live and (chief.returncode != 0 or not self.served):
            self.unserved = not self.served
            before = "" if self.served else " before it served the oracle"
            verb = "failed" if chief.returncode != 0 else "ended"
            self.stop(live, f"the chief {verb} ({_exit_text(chief.returncode or 0)}){before}")
            return True
        return not live  # else the workers are reading the finished search

    def no_worker_left(self, workers: list[str]) -> float:
        """When to stop the chief, now that every worker has ended: at once where none finished its search."""
        finished = any(self.procs[n].returncode == 0 for n in workers)
        if not finished:
            self.say("every worker failed; the search can't go on")
        return time.monotonic() + (self.grace_s if finished else 0)

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
        failed = self.forgive_lost([n for n in self.failed if n not in self.stopped] or self.failed)
        if not failed:
            return 0
        self.say("failed: " + ", ".join(f"{n} ({_exit_text(self.procs[n].returncode or 0)})" for n in failed))
        code = self.procs[failed[0]].returncode or 1
        return 128 - code if code < 0 else code

    def forgive_lost(self, failed: list[str]) -> list[str]:
        """The failures that fail the launch: not, where the search completed, workers lost on the way.

        A worker killed by a signal (preempted, OOM-killed, or ended here once the chief dropped it as
        silent) had its trial run by another worker: the search it served is whole. A worker that exited
        with an error of its own still fails the launch, as does any failure of a search that did not complete.
        """
        if self.procs["chief"].returncode != 0 or not self.served:
            return failed
        lost = [n for n in failed if n != "chief" and (self.procs[n].returncode or 0) < 0]
        if lost:
            said = ", ".join(f"{n} ({_exit_text(self.procs[n].returncode or 0)})" for n in lost)
            self.say(f"the search completed; lost on the way, their trials run by other workers: {said}")
        return [n for n in failed if n not in lost]

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
