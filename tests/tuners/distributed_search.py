"""A search script for the distributed tests: the same file runs alone or as a chief or a worker.

    python distributed_search.py DIRECTORY MAX_TRIALS

`KILL_WORKER=<worker id>` makes that worker SIGKILL itself at the end of the
first epoch of its second trial; `TRIAL_SLEEP=<s>` makes each trial's model
build that much slower, so that every worker gets trials; `FINISH_SLEEP=<s>`
makes each trial's end (its run's finish, an artifact upload) that much slower;
`EPOCHS=<n>` trains each trial that many epochs (default 2).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import keras
import numpy as np
from sklearn.datasets import load_digits

from kt_wandb import WandbTuner

_fits = 0


class KillAtSecondTrial(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        global _fits
        _fits += 1

    def on_epoch_end(self, epoch, logs=None):
        if _fits == 2 and os.environ.get("KILL_WORKER") == os.environ.get("KERASTUNER_TUNER_ID"):
            os.kill(os.getpid(), signal.SIGKILL)


def build(hp):
    time.sleep(float(os.environ.get("TRIAL_SLEEP", "0")))
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(hp.Int("units", 8, 64, step=8), activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-2, sampling="log")),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


class SlowFinish(WandbTuner):
    def _finish_trial(self, trial):
        time.sleep(float(os.environ.get("FINISH_SLEEP", "0")))  # a slow run finish or artifact upload
        super()._finish_trial(trial)


def main() -> None:
    directory, max_trials = sys.argv[1], int(sys.argv[2])
    x, y = load_digits(return_X_y=True)
    x, y = (x[:300] / 16.0).astype("float32"), y[:300]
    tuner = SlowFinish(
        build, objective="val_accuracy", oracle="random", max_trials=max_trials, seed=1,
        wandb_project="kt-wandb-distributed", directory=directory, project_name="search", overwrite=True,
    )
    epochs = int(os.environ.get("EPOCHS", "2"))
    tuner.search(x, y, epochs=epochs, validation_split=0.25, verbose=0, callbacks=[KillAtSecondTrial()])
    frame = tuner.results_frame()
    print(f"done as {tuner.role or 'alone'}: {len(frame)} trials, {int((frame.status == 'COMPLETED').sum())} completed")
    assert np.isfinite(frame.score).all()


if __name__ == "__main__":
    main()
