"""What W&B online costs a search, against the W&B server double on 127.0.0.1 with a latency per request.

The double is the tests' (`tests/helpers/wandb_server.py`), run in a process of its own (a server is another machine:
its Python threads would otherwise take the interpreter's lock from the training); wandb is pointed at it as
the tests' `online_wandb` does.

1. Online against offline: the same random search of `MLPHyperModel` on the bundled digits (`--trials` trials
   of `--epochs` epochs, about 2 s each on a 2-core CPU), `WandbTuner(wandb_mode="online")` against
   `wandb_mode="offline"`, alternated round by round in one process, a fresh project directory each. Prints the
   wall-time ratio online / offline (the target: <= 1.05 at trials of about 2 s), the extra seconds a trial,
   and where they go, timed around `super()` in a subclass: the run's start (`on_trial_begin`, of which
   `wandb.init`), the training (`run_trial`, with its per-epoch `run.log`), the run's end (`on_trial_end`, of
   which `run.finish` and the wait until the run's log is whole on disk) and the rest of the search; with the
   CPU seconds of this process, wandb-core and the double.
2. What a stall costs: the same online search where the server stops answering (`stall()`) as the second
   trial starts training, with `wandb_timeout=T` for each `--timeouts` T (the last one for one round only),
   against the same search with no stall, alternated. The stalled trial waits T/2 for its run's finish, then
   the search goes offline for the rest, with one printed line giving the `wandb sync` command. Prints the
   wall time the stall cost against T/2 (the target: one timeout), and where it went. The server is healed
   after each stalled search and the stalled run's upload waited on for up to 5 s.

The panels (`wandb_panels`) are left out: one report a search, not a cost a trial.

    python benchmarks/online.py [--rounds 5] [--trials 6] [--epochs 8] [--latency 0.05] \
        [--timeouts 20 60] [--stall-rounds 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="kt-wandb-keras-"))

STALL_AT = 2  # the trial (counted from 1) whose training start stalls the server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="online/offline rounds (0: skip)")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=8, help="epochs a trial (sets the trial length)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the server waits before each answer")
    parser.add_argument("--timeouts", type=float, nargs="*", default=[20.0, 60.0],
                        help="wandb_timeout values of the stalled searches (none: skip)")
    parser.add_argument("--stall-rounds", type=int, default=3, help="stalled/unstalled rounds (the last T: 1)")
    args = parser.parse_args()

    began = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="kt-wandb-online-"))
    server = Double()
    point_wandb_at(server.url, root)
    bench = Bench(server, root, args)
    try:
        if args.rounds:
            bench.online_vs_offline()
        if args.timeouts and args.stall_rounds:
            bench.stalls()
    finally:
        import wandb

        server.heal()
        started = time.perf_counter()
        wandb.teardown()
        print(f"\nwandb.teardown() after healing: {time.perf_counter() - started:.2f} s")
    if bench.stalled_runs:
        states = [server.call("state", run_id) for run_id in bench.stalled_runs]
        print(f"the stalled runs on the server at the end: {', '.join(states)} (wandb sync uploads them)")
    if unknown := server.call("unknown"):
        print(f"the server double had no answer to: {sorted(set(unknown))}")
    print(f"done in {time.perf_counter() - began:.0f} s", flush=True)


# The double's process: starts it, prints its URL, then does what each line of its stdin says and answers a line.
# It reads until this process has exited (its stdin's end): wandb's exit hooks post telemetry to it till then.
_SERVE = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from tests.helpers.wandb_server import WandbServer
server = WandbServer(entity="team").start()
print(json.dumps(server.url), flush=True)
for line in sys.stdin:
    command, *args = json.loads(line)
    answer = None
    if command == "latency":
        server.latency = args[0]
    elif command in ("stall", "heal"):
        getattr(server, command)()
    elif command == "requests":
        answer = len(server.requests)
    elif command == "state":
        answer = server.runs[args[0]].state if args[0] in server.runs else "absent"
    elif command == "unknown":
        answer = list(server.unknown)
    elif command == "cpu":
        answer = sum(os.times()[:2])
    print(json.dumps(answer), flush=True)
server.heal()
"""


class Double:
    """The tests' W&B server double (`tests/helpers/wandb_server.py`) in a process of its own, driven through a pipe.

    A server is another machine: in this process the double's Python threads would take the interpreter's lock
    from the training loop and wandb's Python side. It still shares the CPU cores (its seconds are printed).
    """

    def __init__(self) -> None:
        import subprocess

        root = str(Path(__file__).resolve().parents[1])
        self._process = subprocess.Popen([sys.executable, "-c", _SERVE, root], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)
        self.url: str = json.loads(self._process.stdout.readline())

    def call(self, command: str, *args):
        self._process.stdin.write(json.dumps([command, *args]) + "\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())

    def set_latency(self, seconds: float) -> None:
        self.call("latency", seconds)

    def stall(self) -> None:
        self.call("stall")

    def heal(self) -> None:
        """Normal answers again; the latency is 0 after it."""
        self.call("heal")

    def wait_run(self, run_id: str, timeout: float) -> bool:
        """Whether the run's upload completes within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.call("state", run_id) in ("absent", "running"):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True


def point_wandb_at(url: str, root: Path) -> None:
    """The environment of the tests' `online_wandb`: wandb online against the double, its files below `root`."""
    for name in ("WANDB_PROJECT", "WANDB_ENTITY", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_SERVICE"):
        os.environ.pop(name, None)
    os.environ.update(
        WANDB_MODE="online", WANDB_BASE_URL=url, WANDB_API_KEY="k" * 40, WANDB_SILENT="true",
        WANDB_DIR=str(root / "runs"), NETRC=str(root / "no-netrc"), HOME=str(root / "home"),
    )
    for name in ("CONFIG", "CACHE", "DATA", "ARTIFACT"):
        os.environ[f"WANDB_{name}_DIR"] = str(root / name.lower())
    (root / "runs").mkdir(parents=True)


# The parts of a search timed, seconds a trial: "outside" is the search's wall time less its trials' begin,
# training and end (the oracle, KerasTuner's bookkeeping, the search's start and end).
PARTS = (
    ("on_trial_begin", "run start (on_trial_begin)"),
    ("wandb.init", "  of which wandb.init"),
    ("run_trial", "training (run_trial)"),
    ("on_trial_end", "run end (on_trial_end)"),
    ("finish", "  of which run.finish + the log written"),
    ("written", "    of which the log written (wait_written)"),
    ("outside", "outside the trials"),
)


HOOKS = ("on_trial_begin", "on_trial_end", "outside")  # what isn't the training


def per_trial(seconds: float, timing: dict[str, list[float]], trials: int) -> dict[str, float]:
    """Each timed part's seconds a trial, and the rest of the search's wall time."""
    per = {name: sum(timing.get(name, [])) / trials for name, _ in PARTS if name != "outside"}
    per["outside"] = seconds / trials - per["on_trial_begin"] - per["run_trial"] - per["on_trial_end"]
    return per


def median_spread(values: list[float]) -> str:
    """The median, and the range around it."""
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


class Bench:
    def __init__(self, server: Double, root: Path, args: argparse.Namespace) -> None:
        import keras

        from kt_wandb import WandbTuner
        from kt_wandb.data import load_dataset
        from kt_wandb.models import MLPHyperModel
        from kt_wandb.tuners import _service, _trial_run

        self.server, self.root, self.args = server, root, args
        self.data = load_dataset("digits")
        self.hypermodel = MLPHyperModel((64,), self.data.num_classes)
        self.searches = 0
        self.last_cpu: dict[str, float] = {}  # CPU seconds a trial of the last search, by process
        self.stalled_runs: list[str] = []  # the runs whose upload a stall cut short
        self.timing: dict[str, list[float]] = {}  # per search: seconds in each timed part, per trial
        timing = self.timing

        def timed(name, function):
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    timing.setdefault(name, []).append(time.perf_counter() - started)
            return wrapper

        # wandb.init (WandbSession._init); run.finish with the wait for the run's log (TrialRun._finish), and
        # that wait alone (_service.wait_written, looked up at each call).
        _trial_run.WandbSession._init = timed("wandb.init", _trial_run.WandbSession._init)
        _trial_run.TrialRun._finish = timed("finish", _trial_run.TrialRun._finish)
        _service.wait_written = timed("written", _service.wait_written)

        class Timed(WandbTuner):
            """Times the W&B run's start and end around KerasTuner's hooks (KerasTuner's own are cheap)."""

            def on_trial_begin(self, trial):
                timed("on_trial_begin", super().on_trial_begin)(trial)

            def run_trial(self, trial, *args, **kwargs):
                return timed("run_trial", super().run_trial)(trial, *args, **kwargs)

            def on_trial_end(self, trial):
                timed("on_trial_end", super().on_trial_end)(trial)

        self.Timed = Timed

        class FaultAt(keras.callbacks.Callback):
            """Calls `fault` when trial `at` starts training (one object for the search: KerasTuner deep-copies it)."""

            def __init__(self, fault, at: int) -> None:
                super().__init__()
                self.fault, self.at, self.starts = fault, at, 0

            def __deepcopy__(self, memo):
                return self

            def on_train_begin(self, logs=None):
                self.starts += 1
                if self.starts == self.at:
                    self.fault()

        self.FaultAt = FaultAt
        self.notices: list[str] = []
        notices = self.notices

        class Notices(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                notices.append(record.getMessage())

        logging.getLogger("kt_wandb").addHandler(Notices())

    def search(self, mode: str, *, timeout: float = 60.0, stall: bool = False) -> tuple[float, dict, object]:
        """One whole search: its wall seconds, the seconds of each timed part (lists, one per trial), the tuner."""
        self.searches += 1
        self.timing.clear()
        callbacks = [self.FaultAt(self.server.stall, STALL_AT)] if stall else []
        tuner = self.Timed(
            hypermodel=self.hypermodel, objective="val_accuracy", oracle="random", max_trials=self.args.trials,
            seed=self.searches, directory=str(self.root / "searches"), project_name=f"search-{self.searches}",
            overwrite=True, wandb_project="online-bench", wandb_mode=mode, wandb_timeout=timeout,
            wandb_panels=False,
        )
        cpu = self.cpu()
        started = time.perf_counter()
        tuner.search(self.data.x_train, self.data.y_train, epochs=self.args.epochs, validation_split=0.2,
                     verbose=0, callbacks=callbacks)
        seconds = time.perf_counter() - started
        self.last_cpu = {name: (after - cpu[name]) / self.args.trials for name, after in self.cpu().items()}
        return seconds, {k: list(v) for k, v in self.timing.items()}, tuner

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of this process (training, wandb's Python side), wandb-core, and the double."""
        import psutil

        core = 0.0
        for child in psutil.Process().children(recursive=True):
            try:
                if "wandb-core" in child.name():
                    times = child.cpu_times()
                    core += times.user + times.system
            except psutil.Error:
                pass
        return {"this process": sum(os.times()[:2]), "wandb-core": core, "server double": self.server.call("cpu")}

    # -- 1. online against offline --------------------------------------------------------------------------------

    def online_vs_offline(self) -> None:
        args = self.args
        self.server.set_latency(args.latency)
        print(f"online vs offline: {args.trials} trials of {args.epochs} epochs, server latency "
              f"{args.latency * 1000:g} ms a request; {args.rounds} rounds, alternated\n")
        self.search("offline")  # warm-up: the first graphs, wandb's service, the first online run
        self.search("online")
        walls: dict[str, list[float]] = {"online": [], "offline": []}
        parts: dict[str, dict[str, list[float]]] = {"online": {}, "offline": {}}  # seconds a trial, per search
        cpus: dict[str, dict[str, list[float]]] = {"online": {}, "offline": {}}  # CPU seconds a trial
        requests = []
        for index in range(args.rounds):
            for mode in ("offline", "online") if index % 2 == 0 else ("online", "offline"):
                before = self.server.call("requests")
                seconds, timing, tuner = self.search(mode)
                assert tuner.wandb_mode == mode, f"the {mode} search ended {tuner.wandb_mode}"
                if mode == "online":
                    requests.append(self.server.call("requests") - before)
                walls[mode].append(seconds)
                per = per_trial(seconds, timing, args.trials)
                for name, value in per.items():
                    parts[mode].setdefault(name, []).append(value)
                for name, value in self.last_cpu.items():
                    cpus[mode].setdefault(name, []).append(value)
                print(f"round {index}: {mode:7s} {seconds:6.2f} s ({seconds / args.trials:.2f} s a trial: begin "
                      f"{per['on_trial_begin']:.3f}, training {per['run_trial']:.3f}, end {per['on_trial_end']:.3f}, "
                      f"outside the trials {per['outside']:.3f})", flush=True)

        ratios = [on / off for on, off in zip(walls["online"], walls["offline"], strict=True)]
        extras = [(on - off) / args.trials for on, off in zip(walls["online"], walls["offline"], strict=True)]
        print(f"\nseconds a trial (median [min-max] of {args.rounds} rounds): "
              f"offline {median_spread([w / args.trials for w in walls['offline']])}, "
              f"online {median_spread([w / args.trials for w in walls['online']])}")
        print(f"wall-time ratio online / offline: {median_spread(ratios)}  (target <= 1.05)")
        print(f"extra seconds a trial online: {median_spread(extras)}")
        # The training's seconds swing by +-0.3 s a trial from search to search on shared cores: the W&B hooks'
        # own extra, with the training taken as equal, is the steadier figure.
        hooks = [sum(parts["online"][n][i] - parts["offline"][n][i] for n in HOOKS) for i in range(args.rounds)]
        steady = [1 + h / (off / args.trials) for h, off in zip(hooks, walls["offline"], strict=True)]
        print(f"without the training's noise (the run's start, end and the rest only): {median_spread(hooks)} s a "
              f"trial, ratio {median_spread(steady)}")
        print(f"requests to the server an online search: {statistics.median(requests):g} "
              f"({statistics.median(requests) / args.trials:.1f} a trial)")
        print("\nwhere it goes, seconds a trial (median of the rounds): offline, online, online - offline")
        for name, label in PARTS:
            off, on = statistics.median(parts["offline"][name]), statistics.median(parts["online"][name])
            print(f"  {label:44s} {off:6.3f} {on:6.3f} {on - off:+7.3f}")
        print("CPU seconds a trial (median of the rounds; the machine has 2 cores): offline, online, difference")
        for name in cpus["online"]:
            off, on = statistics.median(cpus["offline"][name]), statistics.median(cpus["online"][name])
            print(f"  {name:44s} {off:6.3f} {on:6.3f} {on - off:+7.3f}")

    # -- 2. a stall ---------------------------------------------------------------------------------------------

    def stalls(self) -> None:
        from kt_wandb._records import RUN_RECORD

        args = self.args
        print(f"\na stall at trial {STALL_AT}'s training start: {args.trials} trials of {args.epochs} epochs, "
              f"latency {args.latency * 1000:g} ms; wandb_timeout {', '.join(f'{t:g}' for t in args.timeouts)} s")
        results = []
        for position, timeout in enumerate(args.timeouts):
            rounds = args.stall_rounds if position < len(args.timeouts) - 1 or len(args.timeouts) == 1 else 1
            walls: dict[str, list[float]] = {"plain": [], "stalled": []}
            totals: dict[str, dict[str, list[float]]] = {"plain": {}, "stalled": {}}  # a part's seconds a search
            waits: list[float] = []
            for index in range(rounds):
                for kind in ("plain", "stalled") if index % 2 == 0 else ("stalled", "plain"):
                    self.server.heal()
                    self.server.set_latency(args.latency)
                    del self.notices[:]
                    seconds, timing, tuner = self.search("online", timeout=timeout, stall=kind == "stalled")
                    walls[kind].append(seconds)
                    for name, value in per_trial(seconds, timing, args.trials).items():
                        totals[kind].setdefault(name, []).append(value * args.trials)
                    ends = timing["on_trial_end"]
                    if kind == "plain":
                        assert tuner.wandb_mode == "online"
                        print(f"T={timeout:g} round {index}: {kind:7s} {seconds:6.2f} s", flush=True)
                        continue
                    waits.append(ends[STALL_AT - 1])
                    records = [json.loads(Path(tuner.get_trial_dir(t), RUN_RECORD).read_text())
                               for t in tuner.oracle.trials]
                    modes = " ".join("timed-out" if r.get("upload_timed_out") else r["mode"] for r in records)
                    lines = [n for n in self.notices if "Upload them later with" in n]
                    drained = self._heal_and_drain(records[STALL_AT - 1]["run_id"])
                    self.stalled_runs.append(records[STALL_AT - 1]["run_id"])
                    print(f"T={timeout:g} round {index}: {kind:7s} {seconds:6.2f} s (trial {STALL_AT}'s end "
                          f"{ends[STALL_AT - 1]:.2f} s: run.finish + log {timing['finish'][STALL_AT - 1]:.2f} s, "
                          f"of which log {timing['written'][STALL_AT - 1]:.2f} s; T/2 = {timeout / 2:g}; later ends "
                          f"{statistics.median(ends[STALL_AT:]) if ends[STALL_AT:] else 0:.3f} s; search "
                          f"{tuner.wandb_mode}, runs {modes}; {len(lines)} sync line; stalled run uploaded "
                          f"{drained} after healing)", flush=True)
            cost = [s - p for s, p in zip(walls["stalled"], walls["plain"], strict=True)]
            hooks = [sum(totals["stalled"][n][i] - totals["plain"][n][i] for n in HOOKS) for i in range(rounds)]
            results.append((timeout, rounds, walls, cost, waits, hooks))
            print(f"  where T={timeout:g}'s stall cost goes, seconds a search (median): no stall, stalled, difference")
            for name, label in PARTS:
                plain, stalled = (statistics.median(totals[kind][name]) for kind in ("plain", "stalled"))
                print(f"    {label:44s} {plain:6.2f} {stalled:6.2f} {stalled - plain:+7.2f}")
        print(f"\nwhat a stall at trial {STALL_AT} costs a {args.trials}-trial search (median [min-max]):")
        for timeout, rounds, walls, cost, waits, hooks in results:
            print(f"  wandb_timeout={timeout:g} ({rounds} round(s)): no stall {median_spread(walls['plain'])} s, "
                  f"stalled {median_spread(walls['stalled'])} s: +{median_spread(cost)} s against T/2 = "
                  f"{timeout / 2:g} s (ratio {statistics.median(cost) / (timeout / 2):.2f}); the stalled trial's "
                  f"end {median_spread(waits)} s; without the training's noise: +{median_spread(hooks)} s "
                  f"(ratio {statistics.median(hooks) / (timeout / 2):.2f})")

    def _heal_and_drain(self, run_id: str) -> str:
        """Heals the server (its latency back) and waits, up to 5 s, for the stalled run's upload; says how long."""
        self.server.heal()
        self.server.set_latency(self.args.latency)
        started = time.perf_counter()
        if not self.server.wait_run(run_id, timeout=5):
            return "not within 5 s"
        return f"in {time.perf_counter() - started:.1f} s"


if __name__ == "__main__":
    main()
