"""The `kt-wandb` command: `kt-wandb search` runs a search and says where its runs are."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kt_wandb._records import searched_values
from kt_wandb._wandb_env import DEFAULT_TIMEOUT, check_timeout
from kt_wandb.launcher import DEFAULT_GRACE_S

__all__ = ["main"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, received {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        return check_timeout(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, received {text!r}") from None


# Spelled out so that `--help` needs no Keras import; a test keeps them in step with the registries.
ORACLE_NAMES = ("bayesian", "cmaes", "gp", "grid", "hyperband", "random", "tpe")
PRUNER_NAMES = ("asha", "median")
MODEL_NAMES = ("cnn", "mlp")


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default once: argparse's "(default: ...)", unless the help says it in words (default None)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kt-wandb", description="Tune Keras models with KerasTuner, one W&B run per trial."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_search_parser(commands)
    _add_report_parser(commands)
    _add_panels_parser(commands)
    _add_sync_parser(commands)
    _add_launch_parser(commands)
    return parser


def _add_search_parser(commands: Any) -> None:
    search = commands.add_parser(
        "search",
        help="run a search (default: digits, MLP, Hyperband, W&B offline)",
        formatter_class=_Defaults,
    )
    search.add_argument("--data", default="digits", help="'digits', or a .npz (x, y) or .csv file")
    search.add_argument("--label-column", default="label", help="the label's column in a .csv")
    search.add_argument("--model", choices=MODEL_NAMES, default="mlp", help="the hypermodel")
    search.add_argument(
        "--oracle", choices=ORACLE_NAMES, default=None,
        help="how trials are chosen (default: hyperband; random with --pruner)",
    )
    search.add_argument(
        "--max-trials", type=_positive, default=None,
        help="trial budget (default: 10; Hyperband: its whole schedule)",
    )
    search.add_argument(
        "--epochs", type=_positive, default=10, help="epochs a trial (Hyperband: the most a trial gets)"
    )
    search.add_argument(
        "--objective", default="val_accuracy", help="the metric to optimise (a loss is minimised, others maximised)"
    )
    search.add_argument(
        "--pruner", choices=PRUNER_NAMES, default=None,
        help="stop hopeless trials early (not with hyperband, which does already; default: none)",
    )
    search.add_argument("--seed", type=int, default=0, help="seeds the oracle and the data's split")
    _add_wandb_options(search)
    search.add_argument("--directory", default="kt_wandb_runs", help="where trials and W&B files go")
    search.add_argument("--project-name", default=None, help="the search's name (default: data-model-oracle)")
    search.add_argument(
        "--overwrite", action="store_true", help="start afresh instead of resuming a search of this name"
    )


def _add_wandb_options(search: Any) -> None:
    search.add_argument("--wandb-project", default="kt-wandb", help="the W&B project of the runs")
    search.add_argument("--wandb-mode", choices=["online", "offline", "disabled"], default="offline",
                        help="offline keeps the runs on disk for `wandb sync`")
    search.add_argument(
        "--wandb-timeout", type=_seconds, default=DEFAULT_TIMEOUT,
        help="the most seconds a trial waits on W&B's server (half to start its run, half to upload it); "
        "past it the search goes on offline",
    )


def _add_report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="write the offline HTML comparison report of a search, or of several side by side",
        formatter_class=_Defaults,
    )
    report.add_argument("project_dir", nargs="+", help="the search's folder (directory/project_name), or several")
    report.add_argument(
        "-o", "--output", default=None,
        help="the HTML file (default: report.html in project_dir; several: comparison.html beside the first)",
    )


def _add_panels_parser(commands: Any) -> None:
    panels = commands.add_parser(
        "panels",
        help="save a W&B report with parallel-coordinates and importance panels of a synced search",
        formatter_class=_Defaults,
    )
    panels.add_argument("project_dir", help="the search's folder (directory/project_name)")
    panels.add_argument("--entity", default=None, help="W&B entity (default: the runs' own)")
    panels.add_argument("--project", default=None, help="W&B project (default: the runs' own)")


def _add_sync_parser(commands: Any) -> None:
    sync = commands.add_parser(
        "sync",
        help="upload a search's runs that W&B lacks (offline ones, or online uploads that timed out), "
        "then save its W&B report",
        formatter_class=_Defaults,
    )
    sync.add_argument("project_dir", help="the search's folder (directory/project_name)")
    sync.add_argument("--entity", default=None, help="W&B entity of the report (default: the runs' own)")
    sync.add_argument("--project", default=None, help="W&B project of the report (default: the runs' own)")


def _add_launch_parser(commands: Any) -> None:
    launch = commands.add_parser(
        "launch",
        help="run a search script as KerasTuner's chief and N workers on this machine",
        description="Runs COMMAND (a search script that also runs alone) as the chief and N workers of one "
        "distributed search: kt-wandb launch --workers 4 -- python my_search.py",
        formatter_class=_Defaults,
    )
    launch.add_argument("--workers", type=_positive, required=True, help="how many workers train trials")
    launch.add_argument(
        "--gpus", default="all", help="'all' (round robin over the visible GPUs), 'none' (CPU), or '0,1'"
    )
    launch.add_argument("--host", default="127.0.0.1", help="the address the chief serves the oracle on")
    launch.add_argument("--port", type=int, default=None, help="its port (default: a free one)")
    launch.add_argument(
        "--memory-fraction", type=float, default=0.9, help="of a GPU's memory, what the workers sharing it get"
    )
    launch.add_argument(
        "--compilation-cache", default="auto", metavar="auto|off|DIR",
        help="JAX's compilation cache, shared by the workers (auto: JAX_COMPILATION_CACHE_DIR, else a temporary one)",
    )
    launch.add_argument(
        "--grace", type=float, default=DEFAULT_GRACE_S,
        help="seconds a process has to end after SIGTERM (its trial's W&B run finished) before SIGKILL",
    )
    launch.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="the search's command line")


def _launch_command(args: argparse.Namespace) -> int:
    from kt_wandb.launcher import launch

    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    return launch(
        command, workers=args.workers, gpus=args.gpus, host=args.host, port=args.port,
        memory_fraction=args.memory_fraction, compilation_cache=args.compilation_cache, grace_s=args.grace,
    )


def _panels_command(args: argparse.Namespace) -> int:
    from kt_wandb.analysis import publish_panels

    print(f"W&B report: {publish_panels(args.project_dir, entity=args.entity, project=args.project)}")
    return 0


def _sync_command(args: argparse.Namespace) -> int:
    from kt_wandb.analysis import sync_search

    try:
        done = sync_search(args.project_dir, entity=args.entity, project=args.project)
    except (FileNotFoundError, PermissionError, RuntimeError) as exc:  # no search there, no login, sync failed
        raise ValueError(str(exc)) from exc
    print(f"uploaded: {len(done.runs)} run folder(s) handed to `wandb sync` (those synced before are skipped)")
    print(f"W&B report: {done.report_url}")
    return 0


def _report_command(args: argparse.Namespace) -> int:
    from kt_wandb.analysis import write_report

    try:
        dirs = args.project_dir
        path = write_report(dirs[0] if len(dirs) == 1 else dirs, args.output)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from exc
    print(f"report: {path}")
    return 0


class _SearchProgress:
    """What `kt-wandb search` prints of a whole search: on its own, or the chief's of a distributed one."""

    def __init__(self, tuner: Any) -> None:
        from kt_wandb.tuners import planned_trials

        self.total = planned_trials(tuner.oracle)

    def count(self, tuner: Any) -> str:
        finished = sum(t.status in ("COMPLETED", "FAILED") for t in tuner.oracle.trials.values())
        return f"{finished}/{self.total}" if self.total else str(finished)

    def begin(self, tuner: Any) -> None:
        print(f"report (follows the search; open it now): {tuner.report_path}", flush=True)

    def end(self, tuner: Any, data: Any, seconds: float) -> None:
        _report(tuner, data, seconds)


class _WorkerProgress:
    """What a worker prints: its own trials (the chief keeps the count, and reports on the whole search)."""

    total = None

    def count(self, tuner: Any) -> str:
        return f"#{tuner.ran} of this worker"

    def begin(self, tuner: Any) -> None:
        pass

    def end(self, tuner: Any, data: Any, seconds: float) -> None:
        print(f"worker {tuner.worker_id} done: {tuner.ran} trial(s) in {seconds:.0f} s")


def _progress_tuner(**kwargs: Any) -> Any:
    """A `WandbTuner` that prints one line as each trial ends."""
    from kt_wandb import WandbTuner
    from kt_wandb._records import RUN_RECORD, TrialRecord, read_json

    class ProgressTuner(WandbTuner):
        progress: _SearchProgress | _WorkerProgress
        ran = 0

        def on_trial_begin(self, trial: Any) -> None:
            self._started = time.monotonic()
            super().on_trial_begin(trial)

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            done = self.oracle.get_trial(trial.trial_id)
            self.ran += 1
            name = self.oracle.objective.name
            score = f"{name}={done.score:.4f}" if done.score is not None else done.status.lower()
            pruned = TrialRecord.from_json(read_json(Path(self.get_trial_dir(trial.trial_id)) / RUN_RECORD)).pruned_at
            if pruned is not None:
                score += f" (pruned after epoch {pruned})"
            best = self.oracle.get_best_trials(1)
            best_text = f"best={best[0].score:.4f}" if best and best[0].score is not None else ""
            seconds = time.monotonic() - self._started
            print(f"trial {self.progress.count(self)}  [{trial.trial_id}]  {score}  {best_text}  ({seconds:.1f} s)",
                  flush=True)

    tuner = ProgressTuner(**kwargs)
    tuner.progress = _WorkerProgress() if tuner.role == "worker" else _SearchProgress(tuner)
    return tuner


def _search(args: argparse.Namespace) -> int:
    from kt_wandb.data import load_dataset
    from kt_wandb.models import HYPERMODELS

    data = load_dataset(args.data, label_column=args.label_column, seed=args.seed)
    if args.model == "cnn":
        data = data.as_images()
    hypermodel = HYPERMODELS[args.model](data.x_train.shape[1:], data.num_classes)
    if args.oracle is None:
        args.oracle = "random" if args.pruner else "hyperband"
    tuner = _search_tuner(args, hypermodel, data.name)
    pruning = f", pruner {args.pruner}" if args.pruner else ""
    print(f"searching {data.name} ({len(data.x_train)} training examples) with {args.model}, "
          f"{args.oracle}{pruning}, {tuner.progress.total or '?'} trials")
    tuner.progress.begin(tuner)
    started = time.monotonic()
    tuner.search(data.x_train, data.y_train, epochs=args.epochs, validation_split=0.2, verbose=0)
    tuner.progress.end(tuner, data, time.monotonic() - started)
    return 0


def _search_tuner(args: argparse.Namespace, hypermodel: Any, data_name: str) -> Any:
    """The tuner of `kt-wandb search`, from its options (`args.oracle` chosen), showing its progress."""
    project_name = args.project_name or f"{os.path.splitext(data_name)[0]}-{args.model}-{args.oracle}"
    return _progress_tuner(
        hypermodel=hypermodel,
        objective=args.objective,
        oracle=args.oracle,
        wandb_project=args.wandb_project,
        wandb_mode=args.wandb_mode,
        wandb_timeout=args.wandb_timeout,
        directory=args.directory,
        project_name=project_name,
        overwrite=args.overwrite,
        pruner=args.pruner,
        **_oracle_arguments(args),
    )


def _oracle_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments of `args.oracle`: Hyperband's epochs and factor, or the other oracles' number of trials."""
    oracle_args: dict[str, Any] = {"seed": args.seed}
    if args.oracle == "hyperband":
        oracle_args.update(max_epochs=args.epochs, factor=3)
        if args.max_trials:
            oracle_args["max_trials"] = args.max_trials
    else:
        oracle_args["max_trials"] = args.max_trials or 10
    return oracle_args


def _report(tuner: Any, data: Any, seconds: float) -> None:
    best_trials = tuner.oracle.get_best_trials(1)
    if not best_trials:
        print("no trial completed: see the errors above and in each run's summary", file=sys.stderr)
        return
    best = best_trials[0]
    model = tuner.load_model(best)
    _, test_accuracy = model.evaluate(data.x_test, data.y_test, verbose=0)
    name = tuner.oracle.objective.name
    print(f"\nsearch finished in {seconds:.0f} s: best trial {best.trial_id}, {name}={best.score:.4f}, "
          f"test accuracy {test_accuracy:.4f} on {len(data.x_test)} held-out examples")
    print("best hyperparameters:")
    for key, value in searched_values(best.hyperparameters.values).items():
        print(f"  {key} = {value}")
    print(f"trials: {tuner.project_dir}")
    print(f"report: {tuner.report()}  (open it in a browser; no network needed)")
    if tuner.wandb_mode == "offline":
        print(f"W&B runs (offline): {tuner.wandb_dir}")
        print(f"upload them, with the W&B report:  kt-wandb sync {tuner.project_dir}")
    elif tuner.wandb_mode == "online":
        print(f"W&B runs: group {tuner.wandb_group!r} in project {tuner.wandb_project!r}")


def _import_keras_quietly() -> None:
    """Imports Keras (and its backend) with the process's native stderr closed for the while.

    TensorFlow 2.21 writes its import-time lines ("oneDNN custom operations are on", "Could not find cuda
    drivers", "All log messages before absl::InitializeLog()") from C++ before it reads
    TF_CPP_MIN_LOG_LEVEL. An import that fails raises as usual, once stderr is back.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401 - imported for its side effect: the backend loaded now, quietly
    except Exception:
        pass  # said again, with stderr back, where the command imports it
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kt-wandb` command."""
    # The progress lines are the command's output: keep wandb's and TensorFlow's chatter out.
    os.environ.setdefault("WANDB_SILENT", "true")
    quiet = "TF_CPP_MIN_LOG_LEVEL" not in os.environ  # a user who set it wants TensorFlow's lines as they set
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = _parser().parse_args(argv)
    if quiet and args.command in ("search", "report"):
        _import_keras_quietly()
    try:
        command = {
            "report": _report_command, "panels": _panels_command, "sync": _sync_command, "search": _search,
            "launch": _launch_command,
        }[args.command]
        return command(args)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM during the search: the trial's run is already finished
        print("kt-wandb: interrupted; every finished trial is kept. Run the same command again to resume.",
              file=sys.stderr)
        return 128 + getattr(exc, "signum", signal.SIGINT)  # 130 for Ctrl-C, 143 for SIGTERM, as the shell says
    except (ValueError, ImportError) as exc:
        print(f"kt-wandb: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
