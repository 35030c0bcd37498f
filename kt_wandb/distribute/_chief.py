"""The chief's oracle server: KerasTuner's servicer, with silent workers dropped and their trials run again.

KerasTuner's chief serves the oracle over gRPC and workers ask it for trials
(`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`).
Its own server waits forever on a worker that died mid-trial, and its trial
is never run again. The server here is KerasTuner's servicer with three
changes: a worker silent for longer than the timeout is dropped and its trial
goes back to the queue; a worker asking for a trial while others still run
theirs is told to wait (rather than to stop), so it can take over a dropped
trial; and a waiting worker is answered after a short pause instead of at once.
It also answers only the search's own workers, over TLS where certificates are
given (`kt_wandb.distribute._auth`), and prints a line for each worker it drops
(`DROPPED_LINE`), which `kt-wandb launch` reads to end that worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

from kt_wandb._handshake import DROPPED_LINE, SERVING_LINE
from kt_wandb._keras_tuner import (
    OracleServicer,
    Trial,
    TrialStatus,
    exit_chief,
    holding,
    protos,
    requeue,
    take_from_queue,
)
from kt_wandb._log import logger
from kt_wandb.distribute._auth import bind, server_interceptors
from kt_wandb.distribute._environment import chief_address, expected_workers, heartbeat_timeout

__all__ = ["Servicer", "reap_silent_workers", "serve_oracle"]

# Pause before answering "wait" to a worker, so that waiting workers don't spin.
_IDLE_PAUSE_S = 0.5


def reap_silent_workers(oracle: Any, last_seen: dict[str, float], timeout: float, now: float) -> list[tuple[str, str]]:
    """Drops the workers silent for more than `timeout` seconds; their trials go back to the oracle's queue.

    Call it holding the oracle's lock (`holding`). A worker
    not heard of yet (a chief that has just restarted) is given `timeout`
    from now.

    Returns:
        (worker id, trial id or "") for each worker dropped.
    """
    dropped: list[tuple[str, str]] = []
    for tuner_id in sorted(set(oracle.tuner_ids) | set(oracle.ongoing_trials)):
        seen = last_seen.setdefault(tuner_id, now)
        if now - seen <= timeout:
            continue
        trial = oracle.ongoing_trials.pop(tuner_id, None)
        oracle.tuner_ids.discard(tuner_id)
        last_seen.pop(tuner_id, None)
        if trial is not None:
            requeue(oracle, trial.trial_id)
        dropped.append((tuner_id, trial.trial_id if trial is not None else ""))
    if dropped:
        oracle.save()
    return dropped


def _create_trial(oracle: Any, tuner_id: str) -> tuple[Any, bool]:
    trial = oracle.create_trial(tuner_id)
    if trial.status == TrialStatus.STOPPED and oracle.ongoing_trials:
        # Others still run trials; if one of them dies, this worker takes its trial over.
        oracle.tuner_ids.add(tuner_id)
        return Trial(oracle.get_space(), status=TrialStatus.IDLE), False
    return trial, trial.status == TrialStatus.STOPPED

def _take_back_late_result(oracle: Any, trial_id: str) -> bool:
    # A worker dropped as silent, alive after all, ends its trial while the trial waits in the queue to be
    # run again: keep the result, run it no more. (Once another worker has taken it over, the requests don't
    # say which worker ends it, and KerasTuner records both ends.)
    return take_from_queue(oracle, trial_id)

class Servicer(OracleServicer):
    """Every request under the oracle's lock: KerasTuner's chief serves from one thread, this one from many."""

    def __init__(self, oracle: Any) -> None:
        super().__init__(oracle)
        self.last_seen: dict[str, float] = {}
        self.done: set[str] = set()  # workers told to stop, or dropped as silent

    def heard(self, tuner_id: str) -> None:
        self.last_seen[tuner_id] = time.monotonic()

    def heard_of_trial(self, trial_id: str) -> None:
        for tuner_id, trial in list(self.oracle.ongoing_trials.items()):
            if trial.trial_id == trial_id:
                self.heard(tuner_id)

    def CreateTrial(self, request: Any, context: Any) -> Any:
        self.heard(request.tuner_id)
        with holding(self.oracle):
            trial, stopped = _create_trial(self.oracle, request.tuner_id)
        self.heard(request.tuner_id)
        if stopped:
            self.stop_triggered = True
            self.done.add(request.tuner_id)
        elif trial.status == TrialStatus.IDLE:
            time.sleep(_IDLE_PAUSE_S)  # outside the lock
        return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    def UpdateTrial(self, request: Any, context: Any) -> Any:
        with holding(self.oracle):
            self.heard_of_trial(request.trial_id)
            return super().UpdateTrial(request, context)

    def EndTrial(self, request: Any, context: Any) -> Any:
        trial_id = request.trial.trial_id
        with holding(self.oracle):
            self.heard_of_trial(trial_id)
            if _take_back_late_result(self.oracle, trial_id):
                logger.warning(f"trial {trial_id} ended after its worker was dropped as silent; its result is "
                               f"kept and the trial is not run again.")
            return super().EndTrial(request, context)

    def GetTrial(self, request: Any, context: Any) -> Any:  # also the workers' heartbeat
        with holding(self.oracle):
            self.heard_of_trial(request.trial_id)
            return super().GetTrial(request, context)

    def GetSpace(self, request: Any, context: Any) -> Any:
        with holding(self.oracle):
            return super().GetSpace(request, context)

    def UpdateSpace(self, request: Any, context: Any) -> Any:
        with holding(self.oracle):
            return super().UpdateSpace(request, context)

    def GetBestTrials(self, request: Any, context: Any) -> Any:
        with holding(self.oracle):
            return super().GetBestTrials(request, context)


def serve_oracle(
    oracle: Any, *, timeout: float | None = None, poll_s: float = 0.5, on_poll: Callable[[], None] | None = None
) -> None:
    """Serves `oracle` to the workers until every trial is done and every worker told to stop.

    Args:
        oracle: The chief's oracle.
        timeout: Seconds a worker may stay silent before its trial goes to
            another worker (default: `KT_WANDB_HEARTBEAT_TIMEOUT`, or 120).
        poll_s: How often the chief looks for silent workers and the end.
        on_poll: Called after each look, without the oracle's lock (the live
            report's writer).
    """
    timeout = heartbeat_timeout() if timeout is None else timeout
    address = chief_address()
    servicer = Servicer(oracle)
    server = _bound_server(servicer, address)
    server.start()
    print(f"{SERVING_LINE}{address}; a worker silent for {timeout:g} s "
          f"gives its trial back.", flush=True)
    try:
        _serve_until_done(servicer, timeout=timeout, poll_s=poll_s, on_poll=on_poll)
    finally:
        server.stop(grace=1)


def _bound_server(servicer: Servicer, address: str) -> Any:
    """A gRPC server of `servicer`, bound to `address`; refused where the address is in use.

    It answers only requests with the search's token (where one is set), over TLS where certificates are given.
    """
    import grpc

    # gRPC binds with SO_REUSEPORT by default: a second chief on the same port would bind too and take half
    # the workers' connections. Without it, a port in use is refused here.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64), options=[("grpc.so_reuseport", 0)],
                         interceptors=server_interceptors())
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = bind(server, address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise RuntimeError(
            f"Expected a free address for the chief's oracle server, received {address}, which could not be "
            f"bound (another chief, or another program, may use it). To fix, choose another "
            f"KERASTUNER_ORACLE_PORT (or let `kt-wandb launch` pick one)."
        )
    return server


def _serve_until_done(
    servicer: Servicer, *, timeout: float, poll_s: float, on_poll: Callable[[], None] | None
) -> None:
    """Looks every `poll_s` for silent workers and for the end: every trial done and every worker told so."""
    oracle = servicer.oracle
    expected = expected_workers()
    finished_at: float | None = None
    while True:
        time.sleep(poll_s)
        with holding(oracle):
            dropped = reap_silent_workers(oracle, servicer.last_seen, timeout, time.monotonic())
        for tuner_id, trial_id in dropped:
            servicer.done.add(tuner_id)
            what = f"; trial {trial_id} goes back to the queue" if trial_id else ""
            # On stdout, as the serving line: `kt-wandb launch` reads it to end the worker, should it hang.
            print(f"{DROPPED_LINE}{tuner_id}: silent for over {timeout:g} s{what}.", flush=True)
        if on_poll is not None:
            on_poll()
        with holding(oracle):
            ended = servicer.stop_triggered and exit_chief(oracle)
        if not ended:
            continue
        # Every trial is done. Workers still starting (or reading a finished search) have yet to be told
        # to stop: without an answer they would wait on the chief for KerasTuner's hour.
        if len(servicer.done) >= expected:
            return
        finished_at = finished_at or time.monotonic()
        if time.monotonic() - finished_at > timeout:
            logger.warning(f"{expected - len(servicer.done)} of {expected} worker(s) never asked for a trial "
                           f"in {timeout:g} s after the last one; the chief ends.")
            return
