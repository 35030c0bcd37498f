"""Resident memory growth over 100 short trials: WandbTuner (offline) beside plain KerasTuner.

Each kind runs in a fresh process: a few warm-up trials (imports, the first graph,
the wandb service), then the measured trials; the growth is the resident set
size after them minus before. Target: <= 50 MB for WandbTuner over 100 trials.

    python benchmarks/memory.py [--trials 100] [--warmup 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, sys, tempfile
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("WANDB_SILENT", "true")
import keras_tuner as kt
from kt_wandb import WandbTuner
from kt_wandb.data import load_dataset
from kt_wandb.models import MLPHyperModel

kind, trials, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = load_dataset("digits")
x, y = data.x_train[:400], data.y_train[:400]


def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


def tuner(total):
    common = dict(hypermodel=MLPHyperModel((64,), 10), objective="val_accuracy", max_trials=total, seed=0,
                  directory=tempfile.mkdtemp(), project_name=kind, overwrite=False)
    if kind == "plain":
        return kt.RandomSearch(**common)
    return WandbTuner(oracle="random", wandb_mode="offline", **common)


searcher = tuner(warmup + trials)
searcher.oracle.max_trials = warmup
searcher.search(x, y, epochs=1, validation_split=0.25, verbose=0)
before = rss_mb()
searcher.oracle.max_trials = warmup + trials
searcher.search(x, y, epochs=1, validation_split=0.25, verbose=0)
after = rss_mb()
print(json.dumps({"kind": kind, "trials": len(searcher.oracle.trials) - warmup, "before": before, "after": after}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    results = {}
    for kind in ("plain", "wandb"):
        env = {**os.environ, "WANDB_DIR": tempfile.mkdtemp(prefix="kt-wandb-memory-")}
        env.pop("WANDB_SERVICE", None)
        out = subprocess.run(
            [sys.executable, "-c", CHILD, kind, str(args.trials), str(args.warmup)],
            capture_output=True, text=True, env=env, check=True,
        ).stdout
        results[kind] = json.loads(out.strip().splitlines()[-1])
        r = results[kind]
        print(f"{kind:5s}: {r['trials']} trials, RSS {r['before']:.0f} MB -> {r['after']:.0f} MB "
              f"(growth {r['after'] - r['before']:+.1f} MB)", flush=True)
    growth = {k: r["after"] - r["before"] for k, r in results.items()}
    print(f"WandbTuner growth {growth['wandb']:+.1f} MB over {args.trials} trials (target <= 50 MB); "
          f"plain KerasTuner {growth['plain']:+.1f} MB; difference {growth['wandb'] - growth['plain']:+.1f} MB")


if __name__ == "__main__":
    main()
