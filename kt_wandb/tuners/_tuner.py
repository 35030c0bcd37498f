"""`WandbTuner`: a KerasTuner tuner whose every trial is one W&B run."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import keras
import keras_tuner as kt

from kt_wandb._keras_tuner import (
    Trial,
    TrialStatus,
    checkpoint_files,
    load_json,
)
from kt_wandb._log import logger
from kt_wandb._records import hyperband_place
from kt_wandb._wandb_env import DEFAULT_TIMEOUT, check_timeout
from kt_wandb.distribute import Heartbeat, heartbeat_timeout
from kt_wandb.pruners import Pruner
from kt_wandb.tuners import _service
from kt_wandb.tuners._checks import (
    check_fit_arguments,
    check_live_report,
    check_tuner_arguments,
    check_wandb_arguments,
    is_whole_number,
)
from kt_wandb.tuners._cv import CrossValidation, plan_cross_validation
from kt_wandb.tuners._live_report import LiveReport
from kt_wandb.tuners._memory import TrialMemory, frozen_heap
from kt_wandb.tuners._oracles import (
    oracle_name,
)
from kt_wandb.tuners._pruning import report_epoch, takes_epochs
from kt_wandb.tuners._roles import NullHeartbeat, choose_role
from kt_wandb.tuners._search_outputs import publish_search_panels, write_tensorboard_experiment
from kt_wandb.tuners._setup import check_hypermodel, panels_installed, prepare_oracle, say_renamed_hyperparameters
from kt_wandb.tuners._signals import Interruptions, SearchTerminated
from kt_wandb.tuners._trial_callbacks import FitLength, trial_callbacks, without_batch_hooks
from kt_wandb.tuners._trial_life import (
    ModelArtifacts,
    abort_trial_run,
    check_diverged,
    finish_trial_run,
    open_trial_run,
    record_parts,
    scored,
)
from kt_wandb.tuners._trial_run import TrialRun, WandbSession
from kt_wandb.tuners._wandb import (
    SearchIdentity,
    check_new_search_id,
    init_kwargs,
    resolve_mode,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SearchTerminated", "WandbTuner"]



@contextlib.contextmanager
def _weights_only() -> Iterator[None]:
    """Loading a checkpoint into a fresh model: its optimizer's state is left behind, as meant."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
        yield


class WandbTuner(kt.Tuner):
    """A KerasTuner `Tuner` that logs every trial as one Weights & Biases run.

    Each trial's run has the trial's hyperparameters as its config, the search
    as its group, the trial id as its name, the oracle's name in its tags, and
    a run id derived from the search and the trial, so a resumed search finds
    its runs again. Epochs are logged under `epoch/<metric>` (several
    executions: `execution_<i>/<metric>`); the summary holds the objective's
    score under the objective's own name (the number the oracle ranked) and
    `best_epoch` (0-based, as KerasTuner records it). Failed trials finish
    their run with exit code 1 and the error in the summary.

    Args:
        hypermodel: A function `hp -> compiled keras.Model`, or a `kt.HyperModel`.
        objective: The metric to optimise: a name such as "val_accuracy", or
            a `kt.Objective`.
        oracle: "random", "hyperband", "bayesian", "grid"; Optuna's samplers
            "tpe", "gp", "cmaes" (see `kt_wandb.OptunaOracle`; needs
            `kt-wandb[optuna]`); or a `kt.Oracle`.
        wandb_project: The W&B project of the runs.
        wandb_entity: The W&B entity (user or team) of the runs.
        wandb_mode: "online", "offline" or "disabled". None: `WANDB_MODE` if
            set, else online where W&B credentials exist and offline elsewhere.
        wandb_kwargs: More `wandb.init` arguments (`tags`, `notes`, `group`,
            `dir`, ...). The W&B files go to `dir`, by default `WANDB_DIR` or
            the tuner's `directory`.
        wandb_timeout: The most seconds a trial waits on W&B's server: half
            for its run's start (`init_timeout`), half for its upload at the
            end (`finish_timeout`). Past either, the run is kept on disk and
            the rest of the search runs offline under the same run ids, with
            one line that gives the `wandb sync` command; a slow server that
            answers within it keeps the search online.
        log_best_model: Also log each completed trial's best model as a W&B
            artifact of type "model".
        wandb_panels: At the end of an online search, save a W&B report with a
            parallel-coordinates and a parameter-importance panel of this
            search's runs (needs `kt-wandb[panels]`); offline, print the command
            that uploads the runs and saves it (`kt-wandb sync DIR`). None
            (the default): where `wandb-workspaces` is installed.
        pruner: Stop hopeless trials early: "median" (`MedianPruner()`),
            "asha" (`SuccessiveHalvingPruner()`), or a `kt_wandb.Pruner`. After
            each epoch the objective goes to the oracle, whose pruner decides
            (in a distributed search, the chief's, from every worker's trials).
            A pruned trial stops training there and is completed with its best
            score so far; its run is tagged `pruned`, with `trial/status`
            "PRUNED" and `trial/pruned_at_epoch` in its summary. Not with
            Hyperband, which already stops trials early.
        live_report: Keep the offline report (`report.html` in the project
            directory) up to date while the search runs: written as the
            search starts, after trials end (as long as writing it takes at
            most 2 % of the search's time; a float sets another share), and at
            its end. An open page reloads itself when a newer one exists, and
            stops once the search has ended. In a distributed search the
            chief writes it, from every worker's trials. False: only
            `report()`.
        tensorboard_dir: Also write TensorBoard HParams here: the experiment
            (domains from the search space, the objective and the metrics)
            once per `search()`, and one HParams session per trial (and
            execution) with its hyperparameters, per-epoch scalars and
            objective. Works with W&B off and on every Keras backend.
        **kwargs: The oracle's arguments (`max_trials`, `max_epochs`, `factor`,
            `seed`, ...) and `kt.Tuner`'s (`directory`, `project_name`,
            `overwrite`, `executions_per_trial`, `max_model_size`, ...).

    Attributes:
        role: In KerasTuner's distributed mode (`kt-wandb launch`), "chief"
            or "worker"; None for a search on its own.
        worker_id: A worker's id (`KERASTUNER_TUNER_ID`), else None.
        search_id: The id the search's run ids and group derive from.

    Examples:
        >>> import tempfile, keras, numpy as np
        >>> from kt_wandb import WandbTuner
        >>> def build_model(hp):
        ...     model = keras.Sequential([
        ...         keras.Input((4,)),
        ...         keras.layers.Dense(hp.Int("units", 4, 8, step=4), activation="relu"),
        ...         keras.layers.Dense(1),
        ...     ])
        ...     model.compile("adam", "mse")
        ...     return model
        >>> tuner = WandbTuner(build_model, objective="val_loss", oracle="random",
        ...                    max_trials=2, wandb_mode="disabled",
        ...                    directory=tempfile.mkdtemp(), project_name="demo")
        >>> tuner.search(np.ones((16, 4)), np.ones(16), epochs=1,
        ...              validation_split=0.25, verbose=0)
        >>> len(tuner.oracle.trials)
        2
    """

    def __init__(
        self,
        hypermodel: Any = None,
        objective: Any = None,
        oracle: str | kt.Oracle = "random",
        *,
        wandb_project: str | None = None,
        wandb_entity: str | None = None,
        wandb_mode: str | None = None,
        wandb_kwargs: Mapping[str, Any] | None = None,
        wandb_timeout: float = DEFAULT_TIMEOUT,
        log_best_model: bool = False,
        wandb_panels: bool | None = None,
        pruner: str | Pruner | None = None,
        live_report: bool | float = True,
        tensorboard_dir: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        # Every argument is checked before KerasTuner may overwrite a project directory.
        own_run_trial = type(self).run_trial is not WandbTuner.run_trial
        check_hypermodel(hypermodel, own_run_trial=own_run_trial)
        check_wandb_arguments(wandb_entity=wandb_entity, wandb_kwargs=wandb_kwargs, log_best_model=log_best_model,
                              wandb_panels=wandb_panels, tensorboard_dir=tensorboard_dir)
        self.wandb_timeout = check_timeout(wandb_timeout)
        mode, reason = resolve_mode(wandb_mode)
        self._live_share = check_live_report(live_report)
        check_tuner_arguments(kwargs, wandb_project=wandb_project, wandb_mode=mode)
        self._take_role(seed=kwargs.get("seed"))
        self._local_oracle, tuner_kwargs, self.pruner = prepare_oracle(oracle, objective, pruner, kwargs,
                                                                       own_run_trial=own_run_trial)
        self._role.prepare(tuner_kwargs)
        self._init_kwargs = init_kwargs(project=wandb_project or tuner_kwargs.get("project_name") or "untitled_project",
                                        entity=wandb_entity, mode=mode, user_kwargs=dict(wandb_kwargs or {}),
                                        directory=str(tuner_kwargs.get("directory") or "."), timeout=self.wandb_timeout)
        super().__init__(oracle=self._local_oracle, hypermodel=hypermodel, **tuner_kwargs)
        self._keep_outputs(mode, log_best_model=log_best_model, wandb_panels=wandb_panels,
                           tensorboard_dir=tensorboard_dir)
        self._start_state()
        self._identify_search()
        self._start_wandb(reason)

    def _take_role(self, *, seed: Any) -> None:
        """This process's part in the search, decided once (see `_roles.py`)."""
        self._role = choose_role()
        self.role = self._role.name
        self.worker_id = self._role.worker_id
        self._heartbeat_timeout = heartbeat_timeout()
        self._seed = seed

    def _keep_outputs(
        self, mode: str, *, log_best_model: bool, wandb_panels: bool | None, tensorboard_dir: Any
    ) -> None:
        """What the search leaves besides KerasTuner's files: runs, artifacts, panels, TensorBoard."""
        self.oracle_name = oracle_name(self._local_oracle)  # a worker's `oracle` is KerasTuner's client
        self.log_best_model = log_best_model
        # By default where wandb-workspaces, which builds them, is installed: no complaint each search where it isn't.
        self.wandb_panels = wandb_panels if wandb_panels is not None else panels_installed()
        self.tensorboard_dir = os.path.abspath(tensorboard_dir) if tensorboard_dir is not None else None
        self._wandb_mode = mode

    def _start_wandb(self, reason: str) -> None:
        """The search's W&B session, wandb's service started early where runs will open, and one line on where."""
        self._session = self._new_session()
        if self._wandb_mode != "disabled" and self._role.opens_runs:  # the first trial needn't wait for the service
            _service.start_in_background()
        logger.info(f"{reason}; runs of search {self.wandb_group!r} go to {self.wandb_dir}.")
        say_renamed_hyperparameters(self._local_oracle.hyperparameters.values, self._wandb_mode)

    def _start_state(self) -> None:
        """What the tuner keeps between its hooks, as it is before any search."""
        self._heartbeat: Heartbeat | NullHeartbeat = NullHeartbeat()
        self._interruptions = Interruptions()
        self._model_artifacts = ModelArtifacts(self.load_model, self.get_trial_dir, self.oracle.objective.name)
        self._memory = TrialMemory(keras.backend.backend())
        self._trial_run: TrialRun | None = None
        self._cv: CrossValidation | None = None
        self._part = 0  # the execution (or fold) of the trial that trains now
        self._fit_epochs: Any = None  # the epochs of the fit in progress, as the fit itself has them
        self._live: LiveReport | None = None  # the report written while a search runs
        self._verbose = True  # search(verbose=...)'s, for the search's closing lines

    def _identify_search(self) -> None:
        """The search's id (new, or the one a resumed search recorded) and the W&B group of its runs."""
        identity = SearchIdentity(
            self.project_dir,
            objective=self.oracle.objective.name,
            direction=self.oracle.objective.direction,
            oracle=self.oracle_name,
        )
        self.search_id = identity.search_id
        if not identity.resumed:
            check_new_search_id(self.search_id, self._init_kwargs["dir"])
        self.wandb_group = self._init_kwargs.get("group") or f"{self.project_name}-{self.search_id}"

    # -- the W&B run of the current trial ---------------------------------------------

    @property
    def wandb_mode(self) -> str:
        """The W&B mode of the search: "online", "offline" or "disabled"; online turns offline if W&B can't start."""
        return self._session.mode

    def _new_session(self) -> WandbSession:
        """Each `search()` starts as the tuner was made: online tries online again, W&B trouble is said again."""
        return WandbSession({**self._init_kwargs, "mode": self._wandb_mode}, self.search_id,
                            timeout=self.wandb_timeout)

    def on_search_begin(self) -> None:
        super().on_search_begin()
        self._session = self._new_session()
        self._start_live_report()

    def _start_live_report(self) -> None:
        """The report that follows the search, where asked for: a distributed search's is the chief's."""
        self._live = None
        if self._live_share and self._role.owns_outputs:
            self._live = LiveReport(self.project_dir, share=self._live_share, seed=self._report_seed())
            self._live.begin()

    def _end_live_report(self) -> None:
        """The final report, once: at the search's end, or where an exception or Ctrl-C cut the search short."""
        if self._live is not None and not self._live.ended:
            self._live.end()

    @property
    def report_path(self) -> str:
        """Where `report()` and the live report write the offline report."""
        return os.path.join(self.project_dir, "report.html")

    def _report_seed(self) -> int:
        return int(getattr(self.oracle, "seed", None) or 0)

    @property
    def wandb_run(self) -> Any:
        """The W&B run of the trial in progress, for custom logging in `run_trial`."""
        return self._trial_run.run if self._trial_run is not None else None

    def on_trial_begin(self, trial: Trial) -> None:
        self._interruptions.raise_pending()
        super().on_trial_begin(trial)
        self._memory.begin()
        self._heartbeat.trial_id = trial.trial_id
        self._trial_run = open_trial_run(
            self._session,
            trial,
            trial_dir=self.get_trial_dir(trial.trial_id),
            search_id=self.search_id,
            group=self.wandb_group,
            oracle_name=self.oracle_name,
            role=self._role,
            objective=self.oracle.objective,
        )

    def run_trial(self, trial: Trial, *args: Any, **kwargs: Any) -> Any:
        self._part = -1
        self._fit_epochs = None  # until the trial's fit says (a HyperModel.fit may train without our callbacks)
        place = hyperband_place(trial.hyperparameters.values)
        if place:  # Hyperband's share of epochs for this trial
            kwargs["epochs"] = place["epochs"]
            kwargs["initial_epoch"] = place["initial_epoch"]
        cv = self._cv
        executions = int(self.executions_per_trial)  # type: ignore[has-type]  # untyped in KerasTuner
        parts = len(cv.folds) if cv is not None else executions
        if self._trial_run is not None:
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), *self._trial_callbacks(trial, parts, kwargs)]
        if cv is None:
            results = super().run_trial(trial, *args, **kwargs)
        else:
            # One "execution" a fold: KerasTuner's own loop trains them and averages their scores.
            cv.next_fold = 0
            self.executions_per_trial = parts
            try:
                results = super().run_trial(trial, *args, **kwargs)
            finally:
                self.executions_per_trial = executions
        if isinstance(results, list):  # the executions or folds a pruned trial skipped
            results = [r for r in results if r is not None]
        if self._trial_run is not None:
            check_diverged(self._trial_run, results, self.oracle.objective)
            if isinstance(results, list) and len(results) > 1:
                record_parts(self._trial_run, "fold" if cv is not None else "execution", results, self.oracle.objective)
        return results

    def _trial_callbacks(self, trial: Trial, parts: int, fit_kwargs: Mapping[str, Any]) -> list[Any]:
        """The callbacks that record, log and check each epoch of the trial's fits (see `trial_callbacks`)."""
        assert self._trial_run is not None
        return trial_callbacks(
            self._trial_run,
            trial_id=trial.trial_id,
            count=parts,
            objective=self.oracle.objective,
            tensorboard_dir=self.tensorboard_dir,
            kind="fold" if self._cv is not None else "execution",
            # With HyperModel's own fit, Keras's logs are the metrics KerasTuner ranks by.
            # (validation_freq > 1 leaves val_ metrics out of the first epoch's logs.)
            check_objective=type(self.hypermodel).fit is kt.HyperModel.fit
            and fit_kwargs.get("validation_freq", 1) == 1,
            interruptions=self._interruptions,
        )

    def _build_and_fit_model(self, trial: Trial, *args: Any, **kwargs: Any) -> Any:
        self._part += 1
        if self._trial_run is not None and self._trial_run.record.pruned is not None:
            return None  # the trial stopped in an earlier execution or fold: the rest are skipped
        kwargs["callbacks"] = [*without_batch_hooks(self, list(kwargs.get("callbacks") or [])), FitLength(self)]
        if self._cv is None:
            return super()._build_and_fit_model(trial, *args, **kwargs)
        _, x, y, validation = self._cv.take()
        kwargs["validation_data"] = validation
        return super()._build_and_fit_model(trial, x, y, *args, **kwargs)

    def _build_hypermodel(self, hp: kt.HyperParameters) -> keras.Model:
        # Hyperband continues a trial from the best checkpoint of the one before.
        model = super()._build_hypermodel(hp)
        parent = hyperband_place(hp.values).get("continued_from")
        if parent is not None:
            build_config, weights = checkpoint_files(self, parent)
            model.build_from_config(load_json(build_config))
            with _weights_only():
                model.load_weights(weights)
        return model

    def on_epoch_end(self, trial: Trial, model: keras.Model, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        super().on_epoch_end(trial, model, epoch, logs=logs)
        if not self._reports_epochs or self._trial_run is None:
            return
        if self._trial_run.record.pruned is not None:
            return
        if report_epoch(self.oracle, trial.trial_id, self.oracle.objective, part=self._part, epoch=epoch, logs=logs,
                        last=self._last_epoch(epoch)):
            model.stop_training = True
            self._trial_run.record.pruned = {"epoch": epoch, "part": self._part}

    @property
    def _reports_epochs(self) -> bool:
        """Whether each epoch's objective goes to the oracle: for the pruner, or to an oracle that learns from it."""
        return self.pruner is not None or takes_epochs(self._local_oracle)

    def _last_epoch(self, epoch: int) -> bool:
        """Whether `epoch` ends the trial's last execution (or fold) anyway."""
        parts = int(self.executions_per_trial)  # the folds under cv: run_trial sets it so while they train
        epochs = self._fit_epochs
        return self._part >= parts - 1 and is_whole_number(epochs) and epoch >= epochs - 1

    def load_model(self, trial: Trial) -> keras.Model:
        with _weights_only():
            return super().load_model(trial)

    def on_trial_end(self, trial: Trial) -> None:
        if trial.status != TrialStatus.COMPLETED:  # an error (INVALID, FAILED) may be a SIGTERM that library code
            self._interruptions.raise_pending()  # turned into one: it ends the search, the trial left to run again
        # The run is finished, and whole on disk, before KerasTuner records the trial's end: a process killed
        # in between leaves a trial that a resume runs again, never a COMPLETED trial without its run. The
        # heartbeat goes on meanwhile, so a slow finish (an artifact upload) doesn't get a worker dropped.
        try:
            self._finish_trial(trial)
        except BaseException as exc:
            # A second Ctrl-C (or the program's own handler ending it) cut the run's finish short: the trial is
            # left unrecorded, as a killed process leaves it, and a resume runs it again. An error, or an
            # interruption held until the run was whole, ends the trial as usual.
            self._end_trial(trial, record=isinstance(exc, Exception) or self._trial_run is None)
            raise
        self._end_trial(trial, record=True)
        if self._live is not None:
            self._live.trial_ended()

    def _end_trial(self, trial: Trial, *, record: bool) -> None:
        try:
            if record:
                super().on_trial_end(trial)
        finally:
            self._heartbeat.trial_id = None
            self._memory.release()  # the trial's models are done with: what they left in the backend goes

    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        """Runs the search; see `keras_tuner.Tuner.search`.

        With `cv=k` (arrays `x` and `y` only), each trial trains one model per
        fold of a k-fold split (stratified for class labels, shuffled with the
        oracle's seed) and the objective is the mean of the fold scores; the
        fold scores and their standard deviation go to the run's summary
        (`fold_<i>/<objective>`, `cv/<objective>_std`) and the results table,
        each fold's curves to `fold_<i>/<metric>`. The best checkpoint, and so
        `get_best_models()`, is the best epoch of the best fold.

        A run left open by an exception or Ctrl-C is finished before it propagates.

        While it runs, the objects that existed before the search are frozen
        (`gc.freeze()`, see `kt_wandb.tuners.frozen_heap`) and so hidden from
        `gc.get_objects()` and `gc.get_referrers()`, which objgraph and other
        memory-debugging tools use; set the environment variable
        `KT_WANDB_FREEZE_HEAP=0` to leave them visible, at the cost of
        KerasTuner's two full garbage collections per trial walking them
        again (about 0.2 s each with TensorFlow imported).

        In KerasTuner's distributed mode (see `kt-wandb launch`), the chief
        serves the oracle until every trial is done and opens no run; each
        worker runs trials as runs of the same group, tagged `worker:<id>`. A
        worker silent for `KT_WANDB_HEARTBEAT_TIMEOUT` seconds (default 120)
        is dropped and its trial given to another worker.
        """
        check_fit_arguments(fit_args, fit_kwargs)
        self._verbose = fit_kwargs.get("verbose", 1) not in (0, False)  # Keras's "auto" and 1, 2 print
        cv = fit_kwargs.pop("cv", None)
        if cv is not None:  # checked, and split into folds, before any training
            self._cv, fit_args, fit_kwargs = plan_cross_validation(
                cv, fit_args, fit_kwargs, oracle=self._local_oracle,
                executions_per_trial=self.executions_per_trial, seed=self._cv_seed(),
            )
        with self._interruptions:  # SIGTERM ends a search, or the chief's serving, as Ctrl-C does
            self._role.search(self, fit_args, fit_kwargs)

    def _search_trials(self, fit_args: tuple[Any, ...], fit_kwargs: dict[str, Any]) -> None:
        """KerasTuner's search loop, its runs finished however it ends: a search on its own's, or a worker's."""
        with frozen_heap():
            try:
                self._heartbeat = self._role.heartbeat(self.oracle, self._heartbeat_timeout)
                super().search(*fit_args, **fit_kwargs)
                self._stop_heartbeat()
                self._role.after_search(self)
                self._interruptions.raise_pending()  # one that landed in the last trial's or the search's clean-up
            except BaseException as exc:
                self._abort_trial_run(exc)
                raise
            finally:
                self._cv = None
                self._stop_heartbeat()
                self._end_live_report()  # after an exception or Ctrl-C too

    def _abort_trial_run(self, exc: BaseException) -> None:
        if self._trial_run is not None:
            abort_trial_run(self._trial_run, exc)
            self._trial_run = None

    def _stop_heartbeat(self) -> None:
        self._heartbeat.stop()
        self._heartbeat = NullHeartbeat()

    def _cv_seed(self) -> int:
        if self._seed is not None:
            return int(self._seed)
        return self._role.cv_seed(self.search_id, self._local_oracle.seed)

    def on_search_end(self) -> None:
        super().on_search_end()
        self._end_live_report()
        if not self._role.owns_outputs:  # a worker: the chief writes the search's own files and panels
            return
        if self.tensorboard_dir is not None:
            write_tensorboard_experiment(self.tensorboard_dir, self.oracle)
        if self.wandb_panels and self.wandb_mode != "disabled" and self.oracle.trials:
            publish_search_panels(self.project_dir, self.wandb_mode, verbose=self._verbose)

    def results_frame(self) -> pd.DataFrame:
        """The trials as a pandas DataFrame, one row per trial; see `kt_wandb.analysis.results_frame`."""
        from kt_wandb.analysis import results_frame

        return results_frame(self.project_dir)

    def report(self, path: str | os.PathLike[str] | None = None) -> str:
        """Writes the offline comparison report (`report.html` in the project directory by default).

        See `kt_wandb.analysis.write_report`. Returns the path written; by
        default, where the search's live report has written its final version
        there already, that one, as it is.
        """
        from kt_wandb.analysis import write_report

        live = self._live
        if path is None and live is not None and live.ended and not live.failed:
            return self.report_path
        return str(write_report(self.project_dir, path, seed=self._report_seed()))

    @property
    def wandb_dir(self) -> str:
        """The folder W&B writes this search's runs to (`<dir>/wandb`, `dir` from `wandb_kwargs`, `WANDB_DIR` or
        the tuner's `directory`)."""
        return os.path.join(self._init_kwargs["dir"], "wandb")

    @property
    def wandb_project(self) -> str:
        """The W&B project of the search's runs."""
        return str(self._init_kwargs["project"])

    @property
    def sync_command(self) -> str:
        """The `wandb sync` command that uploads this search's runs that W&B's server lacks (`kt-wandb sync`
        uploads them and saves the report)."""
        return self._session.sync_command()

    # -- helpers ------------------------------------------------------------------------

    def _finish_trial(self, trial: Trial) -> None:
        """Finishes the trial's run with its score; Ctrl-C or SIGTERM meanwhile waits until the run is whole.

        KerasTuner records the trial as it ended whatever happens here, so an
        interruption that cut the finish short would leave a COMPLETED trial
        whose run lacks its score, and a resume would not repair it.
        """
        trial_run = self._trial_run
        if trial_run is None:
            return
        with self._interruptions.deferred():
            self._finish_run(trial_run, trial)
            self._trial_run = None

    def _finish_run(self, trial_run: TrialRun, trial: Trial) -> None:
        done = scored(self.oracle, self._local_oracle, trial)
        finish_trial_run(trial_run, done, self.oracle.objective.name,
                         log_model=self._model_artifacts if self.log_best_model else None)
