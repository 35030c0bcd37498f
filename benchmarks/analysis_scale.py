"""The results table, importance and report of a 1,000-trial search. Target: <= 2 s together.

The search's records are made synthetically, with KerasTuner's own `Trial` objects
(so `trial.json` is exactly what KerasTuner writes) and the tuner's run records,
10 epochs of 4 metrics a trial. Imports are timed apart: they are paid once a process.

    python benchmarks/analysis_scale.py [--trials 1000] [--epochs 10]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def make_search(root: Path, trials: int, epochs: int, seed: int = 0) -> None:
    import keras_tuner as kt
    from keras_tuner.src.engine.trial import Trial

    from kt_wandb._records import IDENTITY_FILE, RUN_RECORD

    rng = random.Random(seed)
    space = kt.HyperParameters()
    space.Int("units", 32, 512, step=32)
    space.Float("dropout", 0.0, 0.5, step=0.1)
    space.Float("learning_rate", 1e-4, 1e-1, sampling="log")
    space.Choice("optimizer", ["adam", "sgd", "rmsprop"])
    space.Int("layers", 1, 4)
    root.mkdir(parents=True, exist_ok=True)
    (root / IDENTITY_FILE).write_text(
        json.dumps({"search_id": "bench000", "objective": "val_accuracy", "direction": "max", "oracle": "random"})
    )
    for index in range(trials):
        hp = space.copy()
        hp.values = {
            "units": rng.randrange(32, 513, 32),
            "dropout": rng.choice([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]),
            "learning_rate": 10 ** rng.uniform(-4, -1),
            "optimizer": rng.choice(["adam", "sgd", "rmsprop"]),
            "layers": rng.randint(1, 4),
        }
        quality = 1 - abs(math.log10(hp.values["learning_rate"]) + 2.5) / 3
        history = []
        for epoch in range(epochs):
            accuracy = quality * (1 - math.exp(-(epoch + 1) / 3)) + rng.gauss(0, 0.01)
            history.append(
                {"epoch": epoch, "accuracy": accuracy + 0.02, "loss": 1 - accuracy,
                 "val_accuracy": accuracy, "val_loss": 1.05 - accuracy}
            )
        best = max(history, key=lambda e: e["val_accuracy"])
        trial = Trial(hp, trial_id=f"{index:04d}", status="COMPLETED")
        for name in ("accuracy", "loss", "val_accuracy", "val_loss"):
            trial.metrics.register(name, direction="max" if "accuracy" in name else "min")
            trial.metrics.update(name, best[name], step=best["epoch"])
        trial.score, trial.best_step = best["val_accuracy"], best["epoch"]
        folder = root / f"trial_{trial.trial_id}"
        folder.mkdir()
        trial.save(str(folder / "trial.json"))
        (folder / RUN_RECORD).write_text(
            json.dumps({"run_id": f"bench000-{trial.trial_id}", "exit_code": 0, "duration_s": 2.0,
                        "history": [history]})
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="kt-wandb-scale-")) / "search"
    make_search(root, args.trials, args.epochs)

    started = time.perf_counter()
    import plotly.graph_objects  # noqa: F401
    import sklearn.ensemble  # noqa: F401

    from kt_wandb.analysis import parameter_importance, results_frame, write_report

    imports = time.perf_counter() - started

    timings = {}
    started = time.perf_counter()
    frame = results_frame(root)
    timings["results table"] = time.perf_counter() - started
    started = time.perf_counter()
    importance = parameter_importance(frame)
    timings["importance"] = time.perf_counter() - started
    started = time.perf_counter()
    path = write_report(root)  # reads the records again and computes its own table and importance
    timings["report (all of it)"] = time.perf_counter() - started

    print(f"{args.trials} trials, {args.epochs} epochs each; imports (once a process): {imports:.2f} s")
    for name, seconds in timings.items():
        print(f"  {name:20s} {seconds:6.2f} s")
    print(f"top parameter: {importance.parameter[0]} ({importance.importance[0]:.2f}); "
          f"report {path.stat().st_size / 1e6:.1f} MB")
    print(f"table + importance + report: {sum(timings.values()):.2f} s (target <= 2 s); "
          f"the report alone, which does all three: {timings['report (all of it)']:.2f} s")


if __name__ == "__main__":
    main()
