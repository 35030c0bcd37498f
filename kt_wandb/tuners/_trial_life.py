"""A trial's life as a W&B run: what its run opens with, what it records while it trains, and how it ends.

`WandbTuner`'s hooks hand each step here: `open_trial_run` (on_trial_begin),
`record_parts` and `check_diverged` (after run_trial), `finish_trial_run`
(on_trial_end, before KerasTuner records the trial), `abort_trial_run` (an
exception or Ctrl-C in the trial). Every summary key comes from
`kt_wandb._records.Summary`.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Callable
from typing import Any

import keras_tuner as kt
import numpy as np

from kt_wandb._keras_tuner import Trial, TrialStatus, convert_to_metrics_dict
from kt_wandb._records import Status, Summary, config_key, hyperband_place, searched_values, trial_status
from kt_wandb.tuners._oracles import DIVERGED
from kt_wandb.tuners._roles import Standalone
from kt_wandb.tuners._trial_run import OnceNotice, TrialRun, WandbSession
from kt_wandb.tuners._wandb import run_id

__all__ = [
    "ModelArtifacts",
    "abort_trial_run",
    "check_diverged",
    "finish_trial_run",
    "open_trial_run",
    "record_parts",
    "scored",
]


def _labels(values: dict[str, Any], *, oracle_name: str, role: Standalone) -> tuple[list[str], dict[str, Any]]:
    """The run's tags and first summary entries: the oracle, the role's, and Hyperband's place for the trial."""
    tags = [oracle_name, *role.tags()]
    place = hyperband_place(values)
    if place:
        tags += [f"bracket:{place['bracket']}", f"round:{place['round']}"]
    return tags, {**role.summary(), **Summary.hyperband(values)}


def open_trial_run(
    session: WandbSession,
    trial: Trial,
    *,
    trial_dir: str,
    search_id: str,
    group: str,
    oracle_name: str,
    role: Standalone,
    objective: kt.Objective,
) -> TrialRun:
    """Opens the trial's run: its hyperparameters as config (names W&B can't take as keys encoded, see
    `config_key`), its tags and first summary, and writes its record."""
    values = trial.hyperparameters.values
    config = searched_values(values)
    keys = {name: config_key(name) for name in config}
    renamed = {key: name for name, key in keys.items() if key != name}
    tags, summary = _labels(values, oracle_name=oracle_name, role=role)
    summary = {Summary.TRIAL_ID: trial.trial_id, **({Summary.HP_NAMES: renamed} if renamed else {}), **summary}
    trial_run = TrialRun.open(
        session,
        trial_dir=trial_dir,
        run_id=run_id(search_id, trial.trial_id),
        name=f"trial-{trial.trial_id}",
        group=group,
        config={keys[name]: value for name, value in config.items()},
        tags=tags,
        summary=summary,
        objective=(objective.name, objective.direction),
        worker=role.worker_id,
    )
    trial_run.config = config  # TensorBoard takes every name as it is
    return trial_run


def record_parts(trial_run: TrialRun, kind: str, results: list[Any], objective: kt.Objective) -> None:
    """Each execution's ("execution") or fold's ("fold") score, in the trial's record and the run's summary."""
    name = objective.name
    scores = [float(convert_to_metrics_dict(r, objective)[name]) for r in results]
    trial_run.record.set_scores(kind, scores)
    summary: dict[str, Any] = {Summary.part_score(kind, i, name): score for i, score in enumerate(scores)}
    if kind == "fold":
        summary.update({Summary.CV_FOLDS: len(scores), Summary.cv_std(name): float(np.std(scores))})
    trial_run.call("write the summary", "summary.update", summary)


def check_diverged(trial_run: TrialRun, results: Any, objective: kt.Objective) -> None:
    """A trial whose loss diverged keeps the best score it reached while finite, or fails.

    Its training stopped at the first non-finite loss. With a finite score
    (a val_accuracy measured before, or even at, that epoch) the trial is
    completed with it, so the oracle learns that region is poor, as it
    does under plain KerasTuner. Without one it fails with the reason, and
    the oracle doesn't count it toward `max_consecutive_failed_trials`: a
    learning-rate range that diverges at one end is no reason to stop.
    """
    diverged = trial_run.record.diverged
    if diverged is None:
        return
    try:
        score = objective.get_value(convert_to_metrics_dict(results, objective))
    except Exception:  # no objective at all: fail with the reason below
        score = None
    if score is not None and np.isfinite(score):
        trial_run.call("write the summary", "summary.update", {Summary.DIVERGED_AT: diverged["epoch"]})
        return
    raise kt.errors.FailedTrialError(
        f"{DIVERGED}, received loss={diverged['loss']} at epoch {diverged['epoch']} "
        f"({diverged['part']}): training diverged and was stopped before any finite {objective.name}. To fix, "
        f"lower the learning rate's range, clip gradients (clipnorm=) or scale the inputs."
    )


def scored(oracle: kt.Oracle, local_oracle: kt.Oracle, trial: Trial) -> Trial:
    """The trial as KerasTuner will record it (status, message, score, best step), before it does.

    The oracle's metrics are final once `run_trial` returned; its `end_trial`
    scores them as `score_trial` does here, on a copy, and makes a NaN score INVALID.
    """
    done = copy.deepcopy(oracle.get_trial(trial.trial_id))
    done.status, done.message = trial.status, trial.message
    if done.status == TrialStatus.COMPLETED:
        try:
            local_oracle.score_trial(done)
        except Exception:  # KerasTuner's own end_trial will say what is wrong
            done.score = None
        if done.score is None or not np.isfinite(done.score):
            done.status = TrialStatus.INVALID
    return done


def _final_summary(trial_run: TrialRun, done: Trial, objective_name: str) -> dict[str, Any]:
    """The run's last summary: its status and scores, or its error."""
    completed = done.status == TrialStatus.COMPLETED
    status = trial_status(done.status, trial_run.record) if completed else Status.FAILED
    summary: dict[str, Any] = {Summary.STATUS: str(status)}
    if status == Status.PRUNED:
        summary[Summary.PRUNED_AT] = trial_run.record.pruned_at
        trial_run.tag("pruned")
    if completed:
        for name in done.metrics.metrics:
            summary[name] = done.metrics.get_last_value(name)
        summary[objective_name] = done.score
        summary[Summary.BEST_EPOCH] = done.best_step
    else:
        message = (done.message or "").strip()
        summary[Summary.ERROR] = message.splitlines()[-1] if message else done.status
        summary[Summary.TRACEBACK] = message
    return summary


def finish_trial_run(
    trial_run: TrialRun, done: Trial, objective_name: str, *, log_model: Callable[[TrialRun, Trial], None] | None
) -> None:
    """Finishes the run of the trial `done` (as `scored` gives it): summary, open TensorBoard sessions, the best
    model as an artifact where `log_model` is given and the trial completed, then the exit code."""
    summary = _final_summary(trial_run, done, objective_name)
    completed = done.status == TrialStatus.COMPLETED
    for session in list(trial_run.sessions):  # executions that never ended: the trial failed
        session.end(succeeded=False)
    if completed and log_model is not None and trial_run.run is not None:
        log_model(trial_run, done)
    trial_run.finish(summary, exit_code=0 if completed else 1)


def abort_trial_run(trial_run: TrialRun, exc: BaseException) -> None:
    """The run of a trial that an exception or an interruption cut short, finished with the reason."""
    interrupted = not isinstance(exc, Exception)
    trial_run.finish(
        {
            Summary.STATUS: str(Status.INTERRUPTED if interrupted else Status.ABORTED),
            Summary.ERROR: f"{type(exc).__name__}: {exc}",
        },
        exit_code=255 if interrupted else 1,
    )


class ModelArtifacts:
    """Logs a completed trial's best model as a W&B artifact of type "model"; a failure costs the artifact only."""

    def __init__(self, load_model: Callable[[Trial], Any], trial_dir: Callable[[str], str], objective: str) -> None:
        self.load_model = load_model
        self.trial_dir = trial_dir
        self.objective = objective
        self.notice = OnceNotice()  # a model that can't be logged is said once

    def __call__(self, trial_run: TrialRun, done: Trial) -> None:
        try:
            self._log(trial_run.run, done)
        except Exception as exc:  # the trial, its scores and its run are kept
            error = f"{type(exc).__name__}: {exc}"
            trial_run.record.model_artifact_error = error
            if trial_run.run is not None:
                trial_run.call("write the summary", "summary.update", {Summary.MODEL_ARTIFACT_ERROR: error})
            self.notice(
                f"could not log trial {done.trial_id}'s best model as a W&B artifact ({error}); the trial, its "
                f"scores and its run are kept, and its checkpoint is in {self.trial_dir(done.trial_id)}."
            )

    def _log(self, run: Any, trial: Trial) -> None:
        import wandb

        model = self.load_model(trial)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            metadata = {"trial_id": trial.trial_id, "hyperparameters": searched_values(trial.hyperparameters.values),
                        self.objective: trial.score}
            artifact = wandb.Artifact(f"model-{run.id}", type="model", metadata=metadata)
            artifact.add_file(path)
            run.log_artifact(artifact, aliases=["best"])
