"""What pruning saves: one random search with no pruner, with `median` and with `asha`, in one process.

The same 30 configurations (the random oracle's seed), 20 epochs each, of a small
CNN (or `--model mlp`) on scikit-learn's digits, over a space where many
configurations are poor (SGD or Adam, learning rates from 1e-5 to 1, heavy dropout). W&B offline, as a user
runs it. Prints, for each pruner: wall time, epochs trained, trials pruned, the
best val_accuracy and the best trial's accuracy on the held-out test split, with
the wall-time ratio against no pruner. Target: ratio >= 2 with the best
val_accuracy within 0.5 points (0.005) of no pruner's.

    python benchmarks/pruning.py [--model cnn] [--trials 30] [--epochs 20] [--seed 0] [--pruners none median asha]

What a trial costs besides its epochs (building and compiling the model, its
first epoch's tracing, opening and finishing its W&B run) is not pruned away:
the fewer the epochs' share of a trial, the less pruning saves in wall time.
The table shows both: epochs trained, and wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("WANDB_SILENT", "true")


def build_mlp(hp):  # type: ignore[no-untyped-def]
    import keras

    model = keras.Sequential([keras.Input((64,))])
    for i in range(hp.Int("layers", 1, 3)):
        model.add(keras.layers.Dense(hp.Int(f"units_{i}", 16, 256, sampling="log"), activation="relu"))
        model.add(keras.layers.Dropout(hp.Float(f"dropout_{i}", 0.0, 0.8)))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return compile_model(hp, model)


def build_cnn(hp):  # type: ignore[no-untyped-def]
    import keras

    model = keras.Sequential([keras.Input((8, 8, 1))])
    for i in range(hp.Int("conv_layers", 1, 2)):
        model.add(keras.layers.Conv2D(hp.Int(f"filters_{i}", 16, 64, sampling="log"), 3, padding="same",
                                      activation="relu"))
    model.add(keras.layers.MaxPooling2D())
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dropout(hp.Float("dropout", 0.0, 0.8)))
    model.add(keras.layers.Dense(hp.Int("units", 16, 256, sampling="log"), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    return compile_model(hp, model)


def compile_model(hp, model):  # type: ignore[no-untyped-def]
    import keras

    rate = hp.Float("learning_rate", 1e-5, 1.0, sampling="log")
    optimizer = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}[hp.Choice("optimizer", ["sgd", "adam"])]
    model.compile(optimizer(rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def one_search(pruner: str, args: argparse.Namespace, root: Path, data) -> dict[str, float | str]:  # type: ignore[no-untyped-def]
    from kt_wandb import WandbTuner

    tuner = WandbTuner(
        build_cnn if args.model == "cnn" else build_mlp, objective="val_accuracy", oracle="random",
        max_trials=args.trials, seed=args.seed,
        pruner=None if pruner == "none" else pruner, wandb_mode="offline",
        directory=str(root), project_name=pruner, overwrite=True,
    )
    started = time.perf_counter()
    tuner.search(data.x_train, data.y_train, epochs=args.epochs, validation_split=0.2, batch_size=32, verbose=0)
    seconds = time.perf_counter() - started
    frame = tuner.results_frame()
    epochs = 0
    for trial_id in frame.trial_id:
        record = json.loads(Path(tuner.get_trial_dir(trial_id), "wandb_run.json").read_text())
        epochs += sum(len(curve) for curve in record.get("history", []))
    best = tuner.oracle.get_best_trials(1)[0]
    _, test_accuracy = tuner.load_model(best).evaluate(data.x_test, data.y_test, verbose=0)
    return {
        "pruner": pruner, "seconds": seconds, "epochs": epochs, "pruned": int((frame.status == "PRUNED").sum()),
        "best": float(best.score), "test": float(test_accuracy),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["cnn", "mlp"], default="cnn")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pruners", nargs="+", default=["none", "median", "asha"])
    args = parser.parse_args()

    from kt_wandb.data import load_dataset

    data = load_dataset("digits", seed=args.seed)
    if args.model == "cnn":
        data = data.as_images()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("WANDB_DIR", tmp)
        rows = [one_search(pruner, args, Path(tmp), data) for pruner in args.pruners]
    base = rows[0]
    print(f"\n{args.trials} trials x {args.epochs} epochs, random search (seed {args.seed}), digits {args.model}, "
          f"W&B offline; {os.cpu_count()} CPUs")
    print(f"{'pruner':8} {'wall s':>8} {'speed-up':>9} {'epochs':>7} {'pruned':>7} {'best val_acc':>13} "
          f"{'vs none':>8} {'test acc':>9}")
    for row in rows:
        print(f"{row['pruner']:8} {row['seconds']:8.1f} {base['seconds'] / row['seconds']:8.2f}x {row['epochs']:7d} "
              f"{row['pruned']:7d} {row['best']:13.4f} {row['best'] - base['best']:+8.4f} {row['test']:9.4f}")


if __name__ == "__main__":
    main()
