"""Trials per hour of one small-CNN search with 1, 2, 4 and 8 workers under `kt-wandb launch`.

Each configuration runs the same search (`throughput_search.py`: a small CNN
on synthetic 32×32×3 images, a fixed number of trials, W&B offline) from a
cold start, chief and workers included, and prints trials per hour against
one worker, with what bounds it: mean GPU utilisation (nvidia-smi), host CPU
utilisation, and the first epoch's extra time over the others (compilation).
On a machine without a GPU it runs on the CPU with smaller numbers.

    KERAS_BACKEND=jax python benchmarks/gpu_throughput.py [--workers 1 2 4 8] [--variants auto off hooks]
        [--runs 1:auto 8:auto ...] [--trials 16] [--images 16000] [--epochs 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SEARCH = Path(__file__).with_name("throughput_search.py")


class Sampler:
    """Samples GPU utilisation (nvidia-smi) and host CPU utilisation (/proc/stat) in the background."""

    def __init__(self, gpu: bool) -> None:
        self.gpu_util: list[float] = []
        self.gpu_mem: list[float] = []
        self.cpu_util: list[float] = []
        self.smi = (
            subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                 "-lms", "500"],
                stdout=subprocess.PIPE, text=True,
            )
            if gpu else None
        )
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._cpu, daemon=True)]
        if self.smi is not None:
            self.threads.append(threading.Thread(target=self._gpu, daemon=True))
        for thread in self.threads:
            thread.start()

    def _gpu(self) -> None:
        assert self.smi is not None and self.smi.stdout is not None
        for line in self.smi.stdout:
            try:
                util, mem = (float(v) for v in line.split(",")[:2])
            except ValueError:
                continue
            self.gpu_util.append(util)
            self.gpu_mem.append(mem)

    @staticmethod
    def _cpu_times() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    def _cpu(self) -> None:
        total, idle = self._cpu_times()
        while not self._stop.wait(1.0):
            total2, idle2 = self._cpu_times()
            if total2 > total:
                self.cpu_util.append(100.0 * (1 - (idle2 - idle) / (total2 - total)))
            total, idle = total2, idle2

    def stop(self) -> dict[str, float | None]:
        self._stop.set()
        if self.smi is not None:
            self.smi.terminate()
            self.smi.wait()
        return {
            "gpu_util_mean": statistics.fmean(self.gpu_util) if self.gpu_util else None,
            "gpu_mem_max_mib": max(self.gpu_mem) if self.gpu_mem else None,
            "cpu_util_mean": statistics.fmean(self.cpu_util) if self.cpu_util else None,
        }


# What a configuration changes: JAX's compilation cache shared by the workers (the launcher's default) or none,
# and "hooks": no cache and a tuner with a per-batch hook, as KerasTuner's own bridge had (Keras then waits for
# the device after every step).
VARIANTS = {"auto": ("auto", False), "off": ("off", False), "hooks": ("off", True)}


def run(workers: int, variant: str, args: argparse.Namespace, gpus: list[str]) -> dict[str, object]:
    from kt_wandb.launcher import launch

    cache, hooks = VARIANTS[variant]
    directory = tempfile.mkdtemp(prefix=f"kt-wandb-throughput-{workers}-{variant}-")
    os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
    os.environ["THROUGHPUT_BATCH_HOOKS"] = "1" if hooks else ""
    command = [sys.executable, str(SEARCH), directory, str(args.trials), str(args.images), str(args.epochs)]
    log = io.StringIO()
    sampler = Sampler(gpu=bool(gpus))
    started = time.perf_counter()
    code = launch(command, workers=workers, gpus=gpus or "none", compilation_cache=cache, output=log)
    seconds = time.perf_counter() - started
    usage = sampler.stop()
    if code != 0:
        sys.stderr.write(log.getvalue()[-5000:])
        raise SystemExit(f"the search with {workers} worker(s) failed with exit code {code}")
    fits = [json.loads(line) for p in Path(directory).glob("epochs-*.jsonl") for line in p.read_text().splitlines()
            if line]
    first = statistics.median(f["epochs"][0] for f in fits)
    later = statistics.median(t for f in fits for t in f["epochs"][1:]) if args.epochs > 1 else float("nan")
    trials = len(fits)
    # Steady state: from the first trial's start to the last one's end, without the processes' start-up.
    steady = max(f["ended"] for f in fits) - min(f["began"] for f in fits)
    return {
        "workers": workers, "variant": variant, "trials": trials, "seconds": seconds,
        "trials_per_hour": 3600 * trials / seconds, "steady_trials_per_hour": 3600 * trials / steady,
        "first_epoch_s": first, "later_epoch_s": later, **usage,
    }


def _configuration(text: str) -> tuple[int, str]:
    workers, _, variant = text.partition(":")
    if not workers.isdigit() or int(workers) < 1 or variant not in VARIANTS:
        raise argparse.ArgumentTypeError(f"expected WORKERS:VARIANT with a variant in {sorted(VARIANTS)}, "
                                         f"received {text!r}")
    return int(workers), variant


def main() -> None:
    from kt_wandb.launcher import visible_gpus

    gpus = visible_gpus()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8] if gpus else [1, 2])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["auto"],
                        help="auto: the launcher's shared compilation cache; off: none; hooks: none, and a "
                             "per-batch tuner hook (KerasTuner's own bridge)")
    parser.add_argument("--runs", type=_configuration, nargs="+", default=None, metavar="WORKERS:VARIANT",
                        help="the configurations, in this order (instead of --workers x --variants)")
    parser.add_argument("--trials", type=int, default=16 if gpus else 4)
    parser.add_argument("--images", type=int, default=16000 if gpus else 2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results here (after each configuration)")
    args = parser.parse_args()
    runs = args.runs or [(w, v) for v in args.variants for w in args.workers]

    where = f"GPU(s) {','.join(gpus)}" if gpus else "the CPU"
    print(f"{args.trials} trials of {args.epochs} epochs on {args.images} images, backend "
          f"{os.environ['KERAS_BACKEND']}, on {where} ({os.cpu_count()} CPUs)", flush=True)
    results: list[dict[str, Any]] = []
    print("workers variant  wall s  trials/h  ratio  steady trials/h  ratio  GPU %  CPU %  epoch 1 s  later s")
    for workers, variant in runs:
        result = run(workers, variant, args, gpus)
        results.append(result)
        # Ratios against one worker of the same variant where there is one, else against the first configuration.
        base = next((r for r in results if r["workers"] == 1 and r["variant"] == variant), results[0])
        gpu = f"{result['gpu_util_mean']:5.1f}" if result["gpu_util_mean"] is not None else "    -"
        print(
            f"{workers:7d} {variant:7s}  {result['seconds']:7.1f}  "
            f"{result['trials_per_hour']:8.0f}  {result['trials_per_hour'] / base['trials_per_hour']:5.2f}  "
            f"{result['steady_trials_per_hour']:15.0f}  "
            f"{result['steady_trials_per_hour'] / base['steady_trials_per_hour']:5.2f}  {gpu}  "
            f"{result['cpu_util_mean']:5.1f}  {result['first_epoch_s']:9.2f}  {result['later_epoch_s']:7.2f}",
            flush=True,
        )
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": where, "args": vars(args), "results": results},
                                                  indent=2, default=str))


if __name__ == "__main__":
    main()
