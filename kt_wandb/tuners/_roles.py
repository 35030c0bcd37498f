"""A process's part in a search, decided once: on its own, KerasTuner's chief, or one of its workers.

As KerasTuner decides it once (a worker swaps in `OracleClient`; the chief's
`search()` serves), `WandbTuner` asks `choose_role()` once, in `__init__`, and
hands every difference to the object it gets: what it checks and prepares
before KerasTuner's own `__init__`, how its `search()` runs, its heartbeat
(`NullHeartbeat` on its own), whether it owns the search's outputs, and the
labels of its runs. The tuner itself has no role branch.
"""

from __future__ import annotations

import zlib
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from kt_wandb._keras_tuner import holding
from kt_wandb._log import logger
from kt_wandb._records import Summary
from kt_wandb.distribute import Heartbeat, chief_address, expected_workers, role, wait_for_chief, worker_id

if TYPE_CHECKING:
    from kt_wandb.tuners._tuner import WandbTuner

__all__ = ["Chief", "NullHeartbeat", "Standalone", "Worker", "choose_role"]


class NullHeartbeat:
    """A search on its own has no chief to beat for: the same calls, doing nothing."""

    trial_id: str | None = None

    def stop(self) -> None:
        pass


class Standalone:
    """A search on its own: it runs its trials, opens their runs, and owns the search's outputs."""

    name: str | None = None
    worker_id: str | None = None
    opens_runs = True  # its trials get W&B runs (so the service is worth starting early)
    owns_outputs = True  # the live report, the TensorBoard experiment, the W&B panels

    def prepare(self, tuner_kwargs: MutableMapping[str, Any]) -> None:
        """Before KerasTuner's `__init__`: checks and changes to its arguments."""

    def heartbeat(self, oracle: Any, timeout: float) -> Heartbeat | NullHeartbeat:
        """The pulse that tells the chief this process lives while its trials run."""
        return NullHeartbeat()

    def search(self, tuner: WandbTuner, fit_args: tuple[Any, ...], fit_kwargs: dict[str, Any]) -> None:
        """Runs `tuner`'s search as this role does."""
        tuner._search_trials(fit_args, fit_kwargs)

    def after_search(self, tuner: WandbTuner) -> None:
        """After KerasTuner's search loop has returned."""

    def tags(self) -> list[str]:
        """Its runs' own tags."""
        return []

    def summary(self) -> dict[str, Any]:
        """Its runs' own summary entries."""
        return {}

    def cv_seed(self, search_id: str, oracle_seed: int | None) -> int:
        """The folds' seed where none was given: each process of a distributed search must make the same folds."""
        return int(oracle_seed or 0)


class _Distributed(Standalone):
    """What the chief and the workers share."""

    def cv_seed(self, search_id: str, oracle_seed: int | None) -> int:
        return zlib.crc32(search_id.encode())  # the same in every process


class Chief(_Distributed):
    """KerasTuner's chief: serves the oracle to the workers, opens no run, and owns the search's outputs."""

    name = "chief"
    opens_runs = False

    def prepare(self, tuner_kwargs: MutableMapping[str, Any]) -> None:
        from kt_wandb.distribute._auth import check_serving  # gRPC: a distributed search's alone

        expected_workers()  # a bad KT_WANDB_WORKERS is refused now, not once the search is done
        check_serving()  # and serving beyond loopback without a token, before a project directory is wiped

    def __init__(self) -> None:
        self._ended_seen = 0  # how many trials had ended at the live report's last look

    def search(self, tuner: WandbTuner, fit_args: tuple[Any, ...], fit_kwargs: dict[str, Any]) -> None:
        """Serves the oracle until the workers are done, then ends the search."""
        from kt_wandb.distribute._chief import serve_oracle  # the chief's alone

        tuner._cv = None
        verbose = fit_kwargs.get("verbose")
        if verbose is not None:
            tuner.oracle.verbose = verbose
        tuner.save()
        self._ended_seen = len(tuner.oracle.end_order)
        try:  # a SIGTERM from here on still gets the final report
            tuner._start_live_report()
            serve_oracle(tuner.oracle, timeout=tuner._heartbeat_timeout, on_poll=lambda: self._report(tuner))
            tuner.on_search_end()
        finally:
            tuner._end_live_report()  # after an exception or Ctrl-C too

    def _report(self, tuner: WandbTuner) -> None:
        """Between the server's polls: the live report again once the workers have ended trials since."""
        ended = len(tuner.oracle.end_order)
        if tuner._live is None or ended == self._ended_seen:
            return
        self._ended_seen = ended
        with holding(tuner.oracle):  # no worker's request writes a trial's file while the report reads them
            tuner._live.trial_ended()


class Worker(_Distributed):
    """One of KerasTuner's workers: runs the trials the chief hands it, as runs of the search's group."""

    name = "worker"
    owns_outputs = False

    def __init__(self) -> None:
        self.worker_id = worker_id()

    def prepare(self, tuner_kwargs: MutableMapping[str, Any]) -> None:
        # The chief owns the project directory: a worker must not wipe what the others write, nor touch it
        # before the chief has set it up (and wiped it, with overwrite=True).
        tuner_kwargs["overwrite"] = False
        wait_for_chief()

    def heartbeat(self, oracle: Any, timeout: float) -> Heartbeat:
        return Heartbeat(oracle, interval=min(10.0, timeout / 4))

    def search(self, tuner: WandbTuner, fit_args: tuple[Any, ...], fit_kwargs: dict[str, Any]) -> None:
        from kt_wandb.distribute._auth import connect

        # KerasTuner's OracleClient talks to the chief on an insecure channel of its own, without the token:
        # its requests go over ours, and a worker the chief refuses ends here, before it takes a trial. (After
        # a first search() the tuner reads its own oracle, the finished search: no chief to ask.)
        if tuner.oracle is not tuner._local_oracle:
            connect(tuner.oracle, chief_address())
        tuner._search_trials(fit_args, fit_kwargs)

    def after_search(self, tuner: WandbTuner) -> None:
        """The chief is gone: read the finished search from the project directory."""
        try:
            tuner._local_oracle.reload()
        except Exception as exc:  # e.g. another host's directory: keep asking the chief
            logger.warning(f"worker {self.worker_id} could not read the finished search in {tuner.project_dir} "
                           f"({type(exc).__name__}: {exc}).")
            return
        # Kept after search(): the chief has ended by then, so a later search() of this worker reads the finished
        # search (and ends at once) rather than waiting an hour on a chief that is gone.
        tuner.oracle = tuner._local_oracle

    def tags(self) -> list[str]:
        return [f"worker:{self.worker_id}"]

    def summary(self) -> dict[str, Any]:
        return {Summary.WORKER: self.worker_id}


def choose_role() -> Standalone:
    """This process's role, from KerasTuner's variables (`KERASTUNER_TUNER_ID`, ...)."""
    name = role()
    return Chief() if name == "chief" else Worker() if name == "worker" else Standalone()
