"""The search that `gpu_throughput.py` runs: a small CNN on synthetic 32×32×3 images, random oracle.

Runs alone or as a chief/worker under `kt-wandb launch`, unchanged. Each trial
appends its epochs' durations and its start and end to `<directory>/epochs-<worker>.jsonl`, so the
benchmark can split compile time (the first epoch's extra) from training.

    python benchmarks/throughput_search.py DIRECTORY TRIALS IMAGES EPOCHS
"""

from __future__ import annotations

import json
import os
import sys
import time

import keras
import numpy as np

from kt_wandb import WandbTuner
from kt_wandb.models import CNNHyperModel


class EpochTimes(keras.callbacks.Callback):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def on_train_begin(self, logs=None):
        self.times: list[float] = []
        self.began = time.time()
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.times.append(now - self.started)
        self.started = now

    def on_train_end(self, logs=None):
        with open(self.path, "a") as file:
            file.write(json.dumps({"epochs": self.times, "began": self.began, "ended": time.time()}) + "\n")


class BatchHookTuner(WandbTuner):
    """A tuner with a per-batch hook, as KerasTuner's own bridge to the tuner has (`THROUGHPUT_BATCH_HOOKS=1`)."""

    def on_batch_end(self, trial, model, batch, logs=None):
        super().on_batch_end(trial, model, batch, logs)


def main() -> None:
    directory, trials, images, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(images, 32, 32, 3)).astype("float32")
    y = (x[:, :16, :16, 0].mean(axis=(1, 2)) > 0).astype("int64") + 2 * (x[:, 16:, 16:, 1].mean(axis=(1, 2)) > 0)
    tuner_class = BatchHookTuner if os.environ.get("THROUGHPUT_BATCH_HOOKS") else WandbTuner
    tuner = tuner_class(
        CNNHyperModel((32, 32, 3), 4), objective="val_accuracy", oracle="random", max_trials=trials, seed=0,
        wandb_project="kt-wandb-throughput", directory=directory, project_name="search", overwrite=True,
    )
    me = os.environ.get("KERASTUNER_TUNER_ID", "alone")
    tuner.search(x, y, epochs=epochs, batch_size=128, validation_split=0.2, verbose=0,
                 callbacks=[EpochTimes(os.path.join(directory, f"epochs-{me}.jsonl"))])


if __name__ == "__main__":
    main()
