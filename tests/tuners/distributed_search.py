"""A search script for the distributed tests: the same file runs alone or as a chief or a worker.

    python distributed_search.py DIRECTORY MAX_TRIALS

`KILL_WORKER=<worker id>` makes that worker SIGKILL itself at the end of the
first epoch of its second trial, `HANG_WORKER=<worker id>` SIGSTOP itself there
(a hung process, heartbeat thread included); `OVERWRITE=0` resumes the search
in DIRECTORY rather than start it anew; `TRIAL_SLEEP=<s>` makes each trial's model
build that much slower, so that every worker gets trials; `FINISH_SLEEP=<s>`
makes each trial's end (its run's finish, an artifact upload) that much slower;
`ORACLE=<name>` searches with that oracle (default random);
`EPOCHS=<n>` trains each trial that many epochs (default 2); `PRUNE=1` prunes
trials with an odd index after their epoch 1, once two others have reached it,
and logs each decision, with the process that made it, to DIRECTORY/decisions.jsonl.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import keras
import numpy as np
from sklearn.datasets import load_digits

from kt_wandb import Pruner, WandbTuner

_fits = 0


class KillAtSecondTrial(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        global _fits
        _fits += 1

    def on_epoch_end(self, epoch, logs=None):
        me = os.environ.get("KERASTUNER_TUNER_ID")
        if _fits == 2 and os.environ.get("KILL_WORKER") == me:
            os.kill(os.getpid(), signal.SIGKILL)
        if _fits == 2 and os.environ.get("HANG_WORKER") == me:
            os.kill(os.getpid(), signal.SIGSTOP)


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


class OddAfterTwoOthers(Pruner):
    def __init__(self, log):
        self.log = log

    def prune(self, trial_id, epoch, curves):
        others = [t for t in curves.reached(1) if t != trial_id]
        stop = epoch >= 1 and int(trial_id) % 2 == 1 and len(others) >= 2
        with open(self.log, "a") as log:
            log.write(json.dumps({"by": os.environ.get("KERASTUNER_TUNER_ID"), "trial": trial_id, "epoch": epoch,
                                  "seen": sorted(curves.values), "stop": stop}) + "\n")
        return stop


class SlowFinish(WandbTuner):
    def _finish_trial(self, trial):
        time.sleep(float(os.environ.get("FINISH_SLEEP", "0")))  # a slow run finish or artifact upload
        super()._finish_trial(trial)


def main() -> None:
    directory, max_trials = sys.argv[1], int(sys.argv[2])
    x, y = load_digits(return_X_y=True)
    x, y = (x[:300] / 16.0).astype("float32"), y[:300]
    pruner = OddAfterTwoOthers(os.path.join(directory, "decisions.jsonl")) if os.environ.get("PRUNE") else None
    tuner = SlowFinish(
        build, objective="val_accuracy", oracle=os.environ.get("ORACLE", "random"), max_trials=max_trials, seed=1,
        pruner=pruner, wandb_project="kt-wandb-distributed", directory=directory, project_name="search",
        overwrite=os.environ.get("OVERWRITE", "1") == "1",
    )
    epochs = int(os.environ.get("EPOCHS", "2"))
    tuner.search(x, y, epochs=epochs, validation_split=0.25, verbose=0, callbacks=[KillAtSecondTrial()])
    frame = tuner.results_frame()
    completed = int(frame.status.isin(["COMPLETED", "PRUNED"]).sum())
    print(f"done as {tuner.role or 'alone'}: {len(frame)} trials, {completed} completed "
          f"({int((frame.status == 'PRUNED').sum())} pruned)")
    assert np.isfinite(frame.score).all()


if __name__ == "__main__":
    main()
