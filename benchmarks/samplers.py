"""Optuna's samplers inside KerasTuner's engine against KerasTuner's own oracles, and against Optuna alone.

A cheap real objective, no Keras: scikit-learn's SVC on the first 1,000 of its
digits, 3-fold cross-validated accuracy, over C and gamma (log-uniform) and the
kernel, through a plain `keras_tuner.Tuner` whose `run_trial` computes it. For
each sampler (KerasTuner's `random` and `bayesian`, kt-wandb's `tpe` and `gp`
through `OptunaOracle`) and seed: the best accuracy so far after each trial.
Beside them, the same TPE sampler driven by Optuna's own `study.optimize` on
the same objective. Then the oracle's own time a trial (its `create_trial`,
`update_trial` and `end_trial`, files included) over trials 51-60 and
291-300 of a longer search, one seed, on an instant synthetic objective of the
same space (the oracle's time does not depend on what the trial costs).

    python benchmarks/samplers.py [--trials 60] [--seeds 10] [--timing-trials 300] \
        [--samplers random bayesian tpe gp] [--plot docs/samplers.png] [--json results.json] [--from-json F]

Targets: TPE's median best at 30 trials at least KerasTuner's Bayesian's and
above random's; TPE's oracle time at 300 trials at most 1/5 of Bayesian's;
kt-wandb's TPE within noise of Optuna's own (the seeds' spread). `gp` needs
torch; where it isn't importable it is left out, and the table says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

C_RANGE, GAMMA_RANGE, KERNELS = (1e-2, 1e3), (1e-5, 1e0), ["rbf", "poly", "sigmoid"]
CHECKPOINTS = (15, 30, 60)


def svc_objective() -> Callable[[dict[str, Any]], float]:
    """The SVC's 3-fold accuracy for a configuration."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVC

    x, y = load_digits(return_X_y=True)
    x, y = x[:1000] / 16.0, y[:1000]

    def accuracy(values: dict[str, Any]) -> float:
        model = SVC(C=values["C"], gamma=values["gamma"], kernel=values["kernel"])
        return float(cross_val_score(model, x, y, cv=3).mean())

    return accuracy


def synthetic_objective(values: dict[str, Any]) -> float:
    """An instant stand-in of the same space, for the oracles' own time."""
    bonus = {"rbf": 0.0, "poly": 0.3, "sigmoid": 0.6}[values["kernel"]]
    return -((math.log10(values["C"]) - 1) ** 2 + (math.log10(values["gamma"]) + 3) ** 2) - bonus


def space() -> Any:
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.Float("C", *C_RANGE, sampling="log")
    hp.Float("gamma", *GAMMA_RANGE, sampling="log")
    hp.Choice("kernel", KERNELS)
    return hp


def make_oracle(name: str, trials: int, seed: int) -> Any:
    import keras_tuner as kt

    from kt_wandb import OptunaOracle

    common = {"objective": kt.Objective("accuracy", "max"), "max_trials": trials, "hyperparameters": space(),
              "seed": seed + 1}  # KerasTuner's oracles take seed 0 as "no seed"
    if name == "random":
        return kt.oracles.RandomSearchOracle(**common)
    if name == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(**common)
    return OptunaOracle(name, **common)


def timed(oracle: Any) -> list[float]:
    """Makes the oracle's calls add their seconds to the trial's entry of the returned list."""
    spent: list[float] = []
    for method in ("create_trial", "update_trial", "end_trial"):
        original = getattr(oracle, method)

        def call(*args: Any, _original: Any = original, _method: str = method, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                if _method == "create_trial":
                    spent.append(0.0)
                spent[-1] += time.perf_counter() - start

        setattr(oracle, method, call)
    return spent


def run_kerastuner(name: str, trials: int, seed: int, objective: Callable[[dict[str, Any]], float]) -> dict:
    """One search through KerasTuner's engine: the best so far after each trial, and the oracle's seconds."""
    import keras_tuner as kt

    class Search(kt.Tuner):
        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
            return {"accuracy": objective(trial.hyperparameters.values)}

    oracle = make_oracle(name, trials, seed)
    spent = timed(oracle)
    with tempfile.TemporaryDirectory() as directory:
        tuner = Search(oracle=oracle, directory=directory, project_name="s", overwrite=True)
        tuner.search(verbose=0)
        scores = [oracle.trials[t].score for t in oracle.start_order if oracle.trials[t].score is not None]
    return {"best": best_so_far(scores), "oracle_s": spent[: len(scores)]}


def run_optuna(trials: int, seed: int, objective: Callable[[dict[str, Any]], float]) -> dict:
    """The same TPE sampler, seeded alike, by Optuna's own `study.optimize`."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():  # `group` is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True, seed=seed + 1)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: objective({
        "C": t.suggest_float("C", *C_RANGE, log=True), "gamma": t.suggest_float("gamma", *GAMMA_RANGE, log=True),
        "kernel": t.suggest_categorical("kernel", KERNELS)}), n_trials=trials)
    return {"best": best_so_far([t.value for t in study.trials])}


def best_so_far(scores: list[float]) -> list[float]:
    best, out = -math.inf, []
    for score in scores:
        best = max(best, score)
        out.append(best)
    return out


def measure(samplers: list[str], trials: int, seeds: int, timing_trials: int) -> dict:
    """Every figure the table and the plot show: the curves by sampler and seed, and the oracles' timings."""
    objective = svc_objective()
    curves: dict[str, list[list[float]]] = {}
    for name in [*samplers, "optuna-tpe"]:
        curves[name] = []
        for seed in range(seeds):
            run = run_optuna(trials, seed, objective) if name == "optuna-tpe" else \
                run_kerastuner(name, trials, seed, objective)
            curves[name].append(run["best"])
            print(f"  {name} seed {seed}: best {run['best'][-1]:.4f}", flush=True)
    timing = {}
    for name in samplers:
        spent = run_kerastuner(name, timing_trials, 0, synthetic_objective)["oracle_s"]
        timing[name] = {str(n): 1000 * statistics.mean(spent[n - 10:n]) for n in (60, timing_trials)
                        if len(spent) >= n}
        print(f"  {name} oracle ms a trial: {timing[name]}", flush=True)
    return {"curves": curves, "timing": timing, "trials": trials, "seeds": seeds, "timing_trials": timing_trials,
            "machine": machine()}


def machine() -> str:
    model = platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        model = names[0] if names else model
    return f"{os.cpu_count()}-core CPU ({model}), Python {platform.python_version()}"


def quantiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return q[0], statistics.median(values), q[2]


def table(results: dict) -> str:
    """The figures as a Markdown table, with the targets' ratios measured in this run."""
    trials, timing = results["trials"], results["timing"]
    points = [n for n in CHECKPOINTS if n <= trials]
    heads = [f"best @{n} (median [IQR])" for n in points] + [f"oracle ms @{n}" for n in (60, results["timing_trials"])]
    lines = ["| sampler | " + " | ".join(heads) + " |", "| --- |" + " ---: |" * len(heads)]
    for name, runs in results["curves"].items():
        cells = []
        for n in points:
            low, mid, high = quantiles([run[n - 1] for run in runs])
            cells.append(f"{mid:.4f} [{low:.4f}–{high:.4f}]")
        for n in (60, results["timing_trials"]):
            ms = timing.get(name, {}).get(str(n))
            cells.append(f"{ms:.1f}" if ms is not None else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + verdicts(results)


def verdicts(results: dict) -> str:
    curves, timing, n = results["curves"], results["timing"], min(30, results["trials"])
    median = {name: statistics.median(run[n - 1] for run in runs) for name, runs in curves.items()}
    lines = []
    if {"tpe", "bayesian", "random"} <= set(median):
        met = median["tpe"] >= median["bayesian"] and median["tpe"] > median["random"]
        lines.append(f"- TPE's median best at {n} trials: {median['tpe']:.4f}, Bayesian {median['bayesian']:.4f}, "
                     f"random {median['random']:.4f}: target {'met' if met else 'NOT met'}")
    at = str(results["timing_trials"])
    if at in timing.get("tpe", {}) and at in timing.get("bayesian", {}):
        ratio = timing["tpe"][at] / timing["bayesian"][at]
        lines.append(f"- TPE's oracle time at {at} trials / Bayesian's: {ratio:.3f} (target ≤ 0.2: "
                     f"{'met' if ratio <= 0.2 else 'NOT met'})")
    if "tpe" in curves and "optuna-tpe" in curves:
        last = results["trials"] - 1
        ours, theirs = quantiles([r[last] for r in curves["tpe"]]), quantiles([r[last] for r in curves["optuna-tpe"]])
        overlap = ours[0] <= theirs[2] and theirs[0] <= ours[2]
        lines.append(f"- kt-wandb TPE vs Optuna's own at {last + 1} trials: median {ours[1]:.4f} vs {theirs[1]:.4f}, "
                     f"IQRs {'overlap (within noise)' if overlap else 'do NOT overlap'}")
    return "\n".join(lines)


def draw(results: dict, path: str) -> None:
    """The median best-so-far curve of each sampler, with its seeds' interquartile band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, runs in results["curves"].items():
        steps = range(1, len(runs[0]) + 1)
        bands = [quantiles([run[i] for run in runs]) for i in range(len(runs[0]))]
        ax.plot(steps, [b[1] for b in bands], label=name, linestyle="--" if name == "optuna-tpe" else "-")
        ax.fill_between(steps, [b[0] for b in bands], [b[2] for b in bands], alpha=0.15)
    ax.set(xlabel="trial", ylabel="best 3-fold accuracy so far (median, IQR)",
           title=f"SVC on digits, {results['seeds']} seeds — {results['machine']}")
    settled = [statistics.median(run[i] for run in runs) for runs in results["curves"].values()
               for i in range(min(4, results["trials"] - 1), results["trials"])]
    top = max(max(run) for runs in results["curves"].values() for run in runs)
    ax.set_ylim(min(settled) - 0.005, top + 0.002)  # past the first trials, where the samplers differ
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--timing-trials", type=int, default=300)
    parser.add_argument("--samplers", nargs="+", default=["random", "bayesian", "tpe", "gp"])
    parser.add_argument("--plot", default=None, help="where to save the curves' PNG")
    parser.add_argument("--json", default=None, help="where to save every figure")
    parser.add_argument("--from-json", default=None, help="print and draw the figures a run saved, measuring none")
    args = parser.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
        print(table(results))
        if args.plot:
            draw(results, args.plot)
        return
    samplers = args.samplers
    if "gp" in samplers and importlib.util.find_spec("torch") is None:
        print("gp left out: Optuna's GPSampler needs torch, not importable here")
        samplers = [s for s in samplers if s != "gp"]
    results = measure(samplers, args.trials, args.seeds, args.timing_trials)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)
    print(f"\n{args.trials} trials × {args.seeds} seeds; {results['machine']}\n")
    print(table(results))
    if args.plot:
        draw(results, args.plot)


if __name__ == "__main__":
    main()
