"""Optuna's samplers inside KerasTuner's engine against KerasTuner's own oracles, and against Optuna alone.

Two cheap real objectives, no Keras, each through a plain `keras_tuner.Tuner`
whose `run_trial` computes it, on the first 1,000 of scikit-learn's digits,
3-fold cross-validated:

- `mlp`, the harder one: scikit-learn's `MLPClassifier` (15 epochs), its
  cross-validated log loss (minimized) over 5 hyperparameters: the hidden
  units (8-128, log), the L2 penalty (1e-6 to 1, log), the learning rate
  (1e-4 to 0.3, log), the batch size (16 to 256, a Choice of numbers) and the
  activation (relu, tanh, logistic);
- `svc`, the issue's example: `SVC`'s accuracy (maximized) over C and gamma
  (log-uniform) and the kernel. Its optimum is broad: every sampler reaches
  it, and the samplers hardly differ.

For each objective, sampler (KerasTuner's `random` and `bayesian`, kt-wandb's
`tpe` and `gp` through `OptunaOracle`) and seed: the best score so far after
each trial. Beside them, the same TPE sampler driven by Optuna's own
`study.optimize` on the same space (same names, distributions and order) and
objective. Then the oracle's own time a trial (its `create_trial`,
`update_trial` and `end_trial`, files included) over trials 51-60 and 291-300
of a longer search, one seed, on an instant synthetic objective of the `mlp`
space (the oracle's time does not depend on what the trial costs).

    python benchmarks/samplers.py [--trials 60] [--seeds 10] [--timing-trials 300] [--jobs 2] \
        [--problems mlp svc] [--samplers random bayesian tpe gp] [--plot docs/samplers.png] \
        [--json results.json] [--from-json F]

`--jobs N` runs N searches at once, one process each (one thread each), the
oracles' timings among them. Targets: on each objective, TPE's median best at
30 trials at least KerasTuner's Bayesian's and better than random's; TPE's
oracle time at 300 trials at most 1/5 of Bayesian's; kt-wandb's TPE within
noise of Optuna's own (the seeds' interquartile ranges overlap). `gp` needs
torch; where it isn't importable it is left out, and the run says so.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import math
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CHECKPOINTS = (15, 30, 60)
TIMING_PROBLEM = "mlp"


def sampler_seed(seed: int) -> int:
    """The seed given to every sampler for run `seed`: never 0 (KerasTuner's "no seed"), and far apart.

    KerasTuner's oracles draw value i of a search with seed `seed + i`: seeds 1 and 6 would make the same
    trials shifted by one in a space of 5 hyperparameters. Spaced by 100,003, no two runs share a draw.
    """
    return 1 + seed * 100_003


class KerasTunerSpace:
    """Declares a space on KerasTuner's `HyperParameters`."""

    def __init__(self, hp: Any) -> None:
        self.hp = hp

    def float(self, name: str, low: float, high: float, log: bool = False) -> Any:
        return self.hp.Float(name, low, high, sampling="log" if log else "linear")

    def int(self, name: str, low: int, high: int, log: bool = False) -> Any:
        return self.hp.Int(name, low, high, sampling="log" if log else "linear")

    def choice(self, name: str, values: list[Any]) -> Any:
        return self.hp.Choice(name, values)


class OptunaSpace:
    """Asks the same space of an Optuna trial, with the distributions `OptunaOracle` maps KerasTuner's to."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def float(self, name: str, low: float, high: float, log: bool = False) -> Any:
        return self.trial.suggest_float(name, low, high, log=log)

    def int(self, name: str, low: int, high: int, log: bool = False) -> Any:
        return self.trial.suggest_int(name, low, high, log=log)

    def choice(self, name: str, values: list[Any]) -> Any:
        if all(isinstance(v, (int, float)) for v in values):  # an ordered Choice: its index, as OptunaOracle draws it
            return values[self.trial.suggest_int(name, 0, len(values) - 1)]
        return self.trial.suggest_categorical(name, values)


def mlp_space(space: Any) -> dict[str, Any]:
    return {"units": space.int("units", 8, 128, log=True), "alpha": space.float("alpha", 1e-6, 1.0, log=True),
            "learning_rate": space.float("learning_rate", 1e-4, 0.3, log=True),
            "batch_size": space.choice("batch_size", [16, 32, 64, 128, 256]),
            "activation": space.choice("activation", ["relu", "tanh", "logistic"])}


def svc_space(space: Any) -> dict[str, Any]:
    return {"C": space.float("C", 1e-2, 1e3, log=True), "gamma": space.float("gamma", 1e-5, 1.0, log=True),
            "kernel": space.choice("kernel", ["rbf", "poly", "sigmoid"])}


@functools.cache
def digits() -> tuple[Any, Any]:
    """The first 1,000 digits, scaled: read once a process, not once a trial."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x[:1000] / 16.0, y[:1000]


def mlp_log_loss(values: dict[str, Any]) -> float:
    """The MLP's 3-fold cross-validated log loss for a configuration."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_val_score
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(hidden_layer_sizes=(values["units"],), alpha=values["alpha"],
                          learning_rate_init=values["learning_rate"], batch_size=values["batch_size"],
                          activation=values["activation"], max_iter=15, random_state=0)
    with warnings.catch_warnings():  # 15 epochs: most configurations have not converged, by design
        warnings.simplefilter("ignore", ConvergenceWarning)
        return -float(cross_val_score(model, *digits(), cv=3, scoring="neg_log_loss").mean())


def svc_accuracy(values: dict[str, Any]) -> float:
    """The SVC's 3-fold cross-validated accuracy for a configuration."""
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVC

    model = SVC(C=values["C"], gamma=values["gamma"], kernel=values["kernel"])
    return float(cross_val_score(model, *digits(), cv=3).mean())


def synthetic(values: dict[str, Any]) -> float:
    """An instant stand-in of any of the spaces, for the oracles' own time."""
    return sum((math.log10(v) + 2) ** 2 if isinstance(v, (int, float)) else len(v) / 10 for v in values.values())


@dataclass(frozen=True)
class Problem:
    """An objective to search: its space, its score, and which way is better."""

    metric: str
    direction: str
    space: Callable[[Any], dict[str, Any]]
    score: Callable[[dict[str, Any]], float]
    title: str


PROBLEMS = {
    "mlp": Problem("log_loss", "min", mlp_space, mlp_log_loss, "MLP on digits: best 3-fold log loss so far"),
    "svc": Problem("accuracy", "max", svc_space, svc_accuracy, "SVC on digits: best 3-fold accuracy so far"),
}


def make_oracle(name: str, problem: Problem, trials: int, seed: int) -> Any:
    import keras_tuner as kt

    from kt_wandb import OptunaOracle

    hp = kt.HyperParameters()
    problem.space(KerasTunerSpace(hp))
    common = {"objective": kt.Objective(problem.metric, problem.direction), "max_trials": trials,
              "hyperparameters": hp, "seed": sampler_seed(seed)}
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


def run_kerastuner(name: str, problem: Problem, trials: int, seed: int,
                   score: Callable[[dict[str, Any]], float]) -> dict[str, list[float]]:
    """One search through KerasTuner's engine: each trial's score in order, and the oracle's seconds."""
    import keras_tuner as kt

    class Search(kt.Tuner):
        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
            return {problem.metric: score(trial.hyperparameters.values)}

    oracle = make_oracle(name, problem, trials, seed)
    spent = timed(oracle)
    with tempfile.TemporaryDirectory() as directory:
        tuner = Search(oracle=oracle, directory=directory, project_name="s", overwrite=True)
        tuner.search(verbose=0)
        scores = [oracle.trials[t].score for t in oracle.start_order if oracle.trials[t].score is not None]
    return {"scores": scores, "oracle_s": spent[: len(scores)]}


def run_optuna(problem: Problem, trials: int, seed: int) -> dict[str, list[float]]:
    """The same TPE sampler, seeded alike, by Optuna's own `study.optimize` on the same space."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():  # `group` is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(multivariate=True, group=True, constant_liar=True,
                                             seed=sampler_seed(seed))
    direction = "minimize" if problem.direction == "min" else "maximize"
    study = optuna.create_study(direction=direction, sampler=sampler)
    study.optimize(lambda trial: problem.score(problem.space(OptunaSpace(trial))), n_trials=trials)
    return {"scores": [trial.value for trial in study.trials]}


def best_so_far(scores: Iterable[float], direction: str) -> list[float]:
    better = min if direction == "min" else max
    best, out = math.nan, []
    for score in scores:
        best = score if math.isnan(best) else better(best, score)
        out.append(best)
    return out


def run_task(task: tuple[str, str, str, int, int]) -> tuple[tuple[str, str, str, int, int], dict[str, Any]]:
    """One search of the plan: ("curve" or "timing", problem, sampler, seed, trials)."""
    kind, problem_name, sampler, seed, trials = task
    problem = PROBLEMS[problem_name]
    start = time.perf_counter()
    if kind == "timing":
        spent = run_kerastuner(sampler, problem, trials, seed, synthetic)["oracle_s"]
        result: dict[str, Any] = {str(n): 1000 * statistics.mean(spent[n - 10:n]) for n in (60, trials)
                                  if len(spent) >= n}
    elif sampler == "optuna-tpe":
        result = {"best": best_so_far(run_optuna(problem, trials, seed)["scores"], problem.direction)}
    else:
        result = {"best": best_so_far(run_kerastuner(sampler, problem, trials, seed, problem.score)["scores"],
                                      problem.direction)}
    print(f"  {kind} {problem_name} {sampler} seed {seed}: {_brief(result)} ({time.perf_counter() - start:.0f} s)",
          flush=True)
    return task, result


def _brief(result: dict[str, Any]) -> str:
    if "best" in result:
        return f"best {result['best'][-1]:.4f}"
    return ", ".join(f"{ms:.1f} ms a trial at {n}" for n, ms in result.items())


def plan(problems: list[str], samplers: list[str], trials: int, seeds: int,
         timing_trials: int) -> list[tuple[str, str, str, int, int]]:
    """Every search to run, the longest first (KerasTuner's Bayesian oracle takes seconds a trial)."""
    tasks = [("timing", TIMING_PROBLEM, s, 0, timing_trials) for s in samplers]
    tasks += [("curve", p, s, seed, trials) for p in problems for s in [*samplers, "optuna-tpe"]
              for seed in range(seeds)]
    cost = {"bayesian": 0, "gp": 1}
    return sorted(tasks, key=lambda t: (t[0] != "timing", cost.get(t[2], 2)))


def measure(problems: list[str], samplers: list[str], trials: int, seeds: int, timing_trials: int,
            jobs: int) -> dict[str, Any]:
    """Every figure the tables and the plot show: the curves by problem, sampler and seed, and the timings."""
    tasks = plan(problems, samplers, trials, seeds, timing_trials)
    if jobs > 1:
        os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = "1"  # one core a search
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            done = dict(pool.map(run_task, tasks))
    else:
        done = dict(map(run_task, tasks))
    results: dict[str, Any] = {"problems": {}, "timing": {}, "trials": trials, "seeds": seeds,
                               "timing_trials": timing_trials, "timing_problem": TIMING_PROBLEM, "jobs": jobs,
                               "machine": machine()}
    for name in problems:
        curves = {s: [done[("curve", name, s, seed, trials)]["best"] for seed in range(seeds)]
                  for s in [*samplers, "optuna-tpe"]}
        results["problems"][name] = {"metric": PROBLEMS[name].metric, "direction": PROBLEMS[name].direction,
                                     "title": PROBLEMS[name].title, "curves": curves}
    for s in samplers:
        results["timing"][s] = done[("timing", TIMING_PROBLEM, s, 0, timing_trials)]
    return results


def machine() -> str:
    model = platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        model = names[0] if names else model
    return f"{os.cpu_count()}-core CPU ({model}), Python {platform.python_version()}"


def quantiles(values: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return q[0], statistics.median(values), q[2]


def curves_table(name: str, problem: dict[str, Any], trials: int) -> str:
    """One objective's median best so far (and interquartile range) at each checkpoint, by sampler."""
    points = [n for n in CHECKPOINTS if n <= trials]
    better = "lower" if problem["direction"] == "min" else "higher"
    heads = [f"best @{n} (median [IQR])" for n in points]
    lines = [f"`{name}`: {problem['metric']}, {better} is better", "",
             f"| sampler | {' | '.join(heads)} |", "| --- |" + " ---: |" * len(heads)]
    for sampler, runs in problem["curves"].items():
        cells = []
        for n in points:
            low, mid, high = quantiles([run[n - 1] for run in runs])
            cells.append(f"{mid:.4f} [{low:.4f}–{high:.4f}]")
        lines.append(f"| {sampler} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def timing_table(results: dict[str, Any]) -> str:
    points = ("60", str(results["timing_trials"]))
    lines = [f"| oracle ms a trial (`{results['timing_problem']}` space) | @{points[0]} | @{points[1]} |",
             "| --- | ---: | ---: |"]
    for sampler, ms in results["timing"].items():
        lines.append(f"| {sampler} | " + " | ".join(f"{ms[p]:.1f}" if p in ms else "–" for p in points) + " |")
    return "\n".join(lines)


def table(results: dict[str, Any]) -> str:
    """The figures as Markdown tables, with the targets' verdicts measured in this run."""
    parts = [curves_table(name, problem, results["trials"]) for name, problem in results["problems"].items()]
    parts.append(timing_table(results))
    lines = [line for name, problem in results["problems"].items() for line in verdicts(name, problem, results)]
    return "\n\n".join([*parts, "\n".join([*lines, timing_verdict(results)])])


def verdicts(name: str, problem: dict[str, Any], results: dict[str, Any]) -> list[str]:
    curves, n = problem["curves"], min(30, results["trials"])
    sign = -1 if problem["direction"] == "min" else 1
    median = {s: statistics.median(run[n - 1] for run in runs) for s, runs in curves.items()}
    lines = []
    if {"tpe", "bayesian", "random"} <= set(median):
        met = sign * median["tpe"] >= sign * median["bayesian"] and sign * median["tpe"] > sign * median["random"]
        lines.append(f"- `{name}`: TPE's median best at {n} trials {median['tpe']:.4f}, Bayesian "
                     f"{median['bayesian']:.4f}, random {median['random']:.4f}: target {'met' if met else 'NOT met'}")
    if "tpe" in curves and "optuna-tpe" in curves:
        last = results["trials"] - 1
        ours, theirs = quantiles([r[last] for r in curves["tpe"]]), quantiles([r[last] for r in curves["optuna-tpe"]])
        overlap = ours[0] <= theirs[2] and theirs[0] <= ours[2]
        same = curves["tpe"] == curves["optuna-tpe"]
        lines.append(f"- `{name}`: kt-wandb TPE vs Optuna's own at {last + 1} trials: median {ours[1]:.4f} vs "
                     f"{theirs[1]:.4f}, IQRs {'overlap (within noise)' if overlap else 'do NOT overlap'}"
                     f"{'; the curves are equal value for value' if same else ''}")
    return lines


def timing_verdict(results: dict[str, Any]) -> str:
    timing, at = results["timing"], str(results["timing_trials"])
    if at not in timing.get("tpe", {}) or at not in timing.get("bayesian", {}):
        return ""
    ratio = timing["tpe"][at] / timing["bayesian"][at]
    return f"- TPE's oracle time at {at} trials / Bayesian's: {ratio:.4f} (target ≤ 0.2: " \
           f"{'met' if ratio <= 0.2 else 'NOT met'})"


def draw(results: dict[str, Any], path: str) -> None:
    """Each objective's median best-so-far curve by sampler, with its seeds' interquartile band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = results["problems"]
    fig, axes = plt.subplots(1, len(problems), figsize=(6.2 * len(problems), 4.4), squeeze=False)
    for ax, problem in zip(axes[0], problems.values(), strict=True):
        draw_problem(ax, problem, results["trials"])
    fig.suptitle(f"{results['seeds']} seeds — {results['machine']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def draw_problem(ax: Any, problem: dict[str, Any], trials: int) -> None:
    medians = []
    for name, runs in problem["curves"].items():
        steps = range(1, len(runs[0]) + 1)
        bands = [quantiles([run[i] for run in runs]) for i in range(len(runs[0]))]
        ax.plot(steps, [b[1] for b in bands], label=name, linestyle="--" if name == "optuna-tpe" else "-")
        ax.fill_between(steps, [b[0] for b in bands], [b[2] for b in bands], alpha=0.12)
        medians += [b[1] for b in bands[min(9, trials - 1):]]  # past the start-up trials, where they differ
    spread = max(medians) - min(medians)
    ax.set_ylim(min(medians) - 0.3 * spread, max(medians) + 0.3 * spread)
    ax.set(xlabel="trial", ylabel=f"best {problem['metric']} so far (median, IQR)", title=problem["title"])
    ax.legend(fontsize=8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--timing-trials", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=1, help="searches at once, one process each")
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--samplers", nargs="+", default=["random", "bayesian", "tpe", "gp"])
    parser.add_argument("--plot", default=None, help="where to save the curves' PNG")
    parser.add_argument("--json", default=None, help="where to save every figure")
    parser.add_argument("--from-json", default=None, help="print and draw the figures a run saved, measuring none")
    args = parser.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
    else:
        samplers = args.samplers
        if "gp" in samplers and importlib.util.find_spec("torch") is None:
            print("gp left out: Optuna's GPSampler needs torch, not importable here")
            samplers = [s for s in samplers if s != "gp"]
        started = time.perf_counter()
        results = measure(args.problems, samplers, args.trials, args.seeds, args.timing_trials, args.jobs)
        results["minutes"] = round((time.perf_counter() - started) / 60, 1)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f)
    print(f"\n{results['trials']} trials × {results['seeds']} seeds, {results['jobs']} at once; {results['machine']}\n")
    print(table(results))
    if args.plot:
        draw(results, args.plot)


if __name__ == "__main__":
    main()
