"""What one W&B run per trial costs: plain `kt.RandomSearch` against `WandbTuner(oracle="random")`.

The same hypermodel, data, seed and trial count, alternated round by round in one
process so that both see the same machine state. Prints the wall-time ratio and
the extra seconds per trial. Target: ratio <= 1.05 at trials of about 2 s.

Then a whole search in a fresh process each (imports and wandb's service start
included): plain KerasTuner, `WandbTuner` as it is (the service started in the
background when the tuner is made), and `WandbTuner` with the service left to
the first run, as wandb does on its own; with the seconds the first trial's run
took to open.

    python benchmarks/overhead.py [--rounds 3] [--trials 5] [--epochs 4] [--fresh 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("WANDB_SILENT", "true")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4, help="epochs a trial (sets the trial length)")
    parser.add_argument("--fresh", type=int, default=3, help="fresh-process searches of each kind (0: none)")
    args = parser.parse_args()
    in_process(args)
    if args.fresh:
        fresh_processes(args)


# One whole search in this (fresh) process; prints its seconds, from the process's start, as JSON.
_FRESH = """
import json, os, sys, time
kind, root, trials, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
import keras_tuner as kt
from kt_wandb import WandbTuner
from kt_wandb.data import load_dataset
from kt_wandb.models import MLPHyperModel
from kt_wandb.tuners import _service
if kind == "wandb, service at first run":
    _service.start_in_background = lambda: None
data = load_dataset("digits")
common = dict(hypermodel=MLPHyperModel((64,), data.num_classes), objective="val_accuracy", max_trials=trials,
              seed=0, directory=root, project_name="fresh", overwrite=True)
opened = []
class Timed(WandbTuner):
    def on_trial_begin(self, trial):
        started = time.perf_counter()
        super().on_trial_begin(trial)
        opened.append(time.perf_counter() - started)
tuner = kt.RandomSearch(**common) if kind == "plain" else Timed(oracle="random", wandb_mode="offline", **common)
tuner.search(data.x_train, data.y_train, epochs=epochs, validation_split=0.2, verbose=0)
print(json.dumps({"seconds": time.time() - float(os.environ["KT_STARTED"]), "first_run": (opened or [0])[0]}))
"""


def fresh_processes(args: argparse.Namespace) -> None:
    kinds = ("plain", "wandb", "wandb, service at first run")
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    first_run: dict[str, list[float]] = {kind: [] for kind in kinds}
    print("\nwhole searches in fresh processes (imports and wandb's service start included):")
    for index in range(args.fresh):
        for kind in kinds if index % 2 == 0 else kinds[::-1]:
            env = {**os.environ, "KT_STARTED": repr(time.time())}
            env.pop("WANDB_SERVICE", None)
            out = subprocess.run(
                [sys.executable, "-c", _FRESH, kind, tempfile.mkdtemp(prefix="kt-wandb-fresh-"), str(args.trials),
                 str(args.epochs)], env=env, capture_output=True, text=True, check=True,
            ).stdout.strip().splitlines()[-1]
            result = json.loads(out)
            seconds[kind].append(result["seconds"])
            first_run[kind].append(result["first_run"])
            print(f"fresh {index}: {kind:28s} {result['seconds']:6.2f} s (first run opened in "
                  f"{result['first_run']:.2f} s)", flush=True)
    plain = statistics.median(seconds["plain"])
    for kind in kinds[1:]:
        median = statistics.median(seconds[kind])
        print(f"{kind}: {median:.2f} s a search against plain {plain:.2f} s: {median - plain:+.2f} s a search, "
              f"ratio {median / plain:.3f}; first run opened in {statistics.median(first_run[kind]):.2f} s")


def in_process(args: argparse.Namespace) -> None:

    import keras_tuner as kt

    from kt_wandb import WandbTuner
    from kt_wandb.data import load_dataset
    from kt_wandb.models import MLPHyperModel

    class TimedWandbTuner(WandbTuner):
        """Also measures the time spent opening and finishing the runs themselves."""

        run_seconds = 0.0

        def on_trial_begin(self, trial):
            started = time.perf_counter()
            super().on_trial_begin(trial)  # KerasTuner's own is a no-op: all of this is W&B
            TimedWandbTuner.run_seconds += time.perf_counter() - started

        def _finish_trial(self, trial):
            started = time.perf_counter()
            super()._finish_trial(trial)
            TimedWandbTuner.run_seconds += time.perf_counter() - started

    data = load_dataset("digits")
    hypermodel = MLPHyperModel((64,), data.num_classes)
    root = tempfile.mkdtemp(prefix="kt-wandb-overhead-")

    def run(kind: str, index: int) -> float:
        common = dict(
            hypermodel=hypermodel, objective="val_accuracy", max_trials=args.trials, seed=index,
            directory=root, project_name=f"{kind}-{index}", overwrite=True,
        )
        tuner = (
            kt.RandomSearch(**common)
            if kind == "plain"
            else TimedWandbTuner(oracle="random", wandb_mode="offline", **common)
        )
        started = time.perf_counter()
        tuner.search(data.x_train, data.y_train, epochs=args.epochs, validation_split=0.2, verbose=0)
        return time.perf_counter() - started

    run("plain", -1)  # warm-up: imports, the first graph, the wandb service
    run("wandb", -1)
    TimedWandbTuner.run_seconds = 0.0
    times: dict[str, list[float]] = {"plain": [], "wandb": []}
    for index in range(args.rounds):
        order = ("plain", "wandb") if index % 2 == 0 else ("wandb", "plain")
        for kind in order:
            times[kind].append(run(kind, index))
            print(f"round {index}: {kind:5s} {times[kind][-1]:6.2f} s", flush=True)

    plain, wandb = sum(times["plain"]), sum(times["wandb"])
    trials = args.rounds * args.trials
    median = statistics.median(w / p for w, p in zip(times["wandb"], times["plain"], strict=True))
    print(f"\nseconds a trial: plain {plain / trials:.2f}, WandbTuner {wandb / trials:.2f} "
          f"(median round ratio {median:.3f})")
    print(f"wall-time ratio WandbTuner / plain: {wandb / plain:.3f}  (target <= 1.05)")
    print(f"extra seconds a trial: {(wandb - plain) / trials:+.3f} "
          f"(of which opening and finishing the W&B run: {TimedWandbTuner.run_seconds / trials:.3f})")


if __name__ == "__main__":
    main()
