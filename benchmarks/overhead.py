"""What one W&B run per trial costs: plain `kt.RandomSearch` against `WandbTuner(oracle="random")`.

The same hypermodel, data, seed and trial count, alternated round by round in one
process so that both see the same machine state. Prints the wall-time ratio and
the extra seconds per trial. Target: ratio <= 1.05 at trials of about 2 s.

    python benchmarks/overhead.py [--rounds 3] [--trials 5] [--epochs 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("WANDB_SILENT", "true")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4, help="epochs a trial (sets the trial length)")
    args = parser.parse_args()

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
