"""KerasTuner's distributed mode: each process's role, the chief's oracle server, the workers' heartbeats.

KerasTuner's chief serves the oracle over gRPC and workers ask it for trials
(`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`).
Its own server waits forever on a worker that died mid-trial, and its trial
is never run again. The server here is KerasTuner's servicer with three
changes: a worker silent for longer than the timeout is dropped and its trial
goes back to the queue; a worker asking for a trial while others still run
theirs is told to wait (rather than to stop), so it can take over a dropped
trial; and a waiting worker is answered after a short pause instead of at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from typing import Any

from kt_wandb._handshake import SERVING_LINE, WORKERS_ENV, answers
from kt_wandb._log import logger
from kt_wandb.tuners._keras_tuner import Trial, TrialStatus, chief_parts, holding, requeue, take_from_queue

__all__ = [
    "HEARTBEAT_TIMEOUT_ENV",
    "Heartbeat",
    "expected_workers",
    "holding",
    "reap_silent_workers",
    "role",
    "serve_oracle",
    "wait_for_chief",
    "worker_id",
]

# Seconds a worker may stay silent before the chief gives its trial to another worker.
HEARTBEAT_TIMEOUT_ENV = "KT_WANDB_HEARTBEAT_TIMEOUT"
DEFAULT_HEARTBEAT_TIMEOUT = 120.0
# Pause before answering "wait" to a worker, so that waiting workers don't spin.
_IDLE_PAUSE_S = 0.5
# How long a worker waits for the chief to serve the oracle (KerasTuner's own clients wait as long).
CHIEF_WAIT_S = 3600.0


def role(environ: Mapping[str, str] | None = None) -> str | None:
    """This process's part in a distributed search: "chief", "worker", or None (a search on its own)."""
    env = os.environ if environ is None else environ
    if "KERASTUNER_ORACLE_IP" not in env:
        return None
    missing = [name for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if not env.get(name)]
    if missing:
        raise ValueError(
            f"Expected KERASTUNER_ORACLE_PORT and KERASTUNER_TUNER_ID beside KERASTUNER_ORACLE_IP, received no "
            f"{' and no '.join(missing)}. To fix, set them (the chief's KERASTUNER_TUNER_ID is 'chief', each "
            f"worker's a name of its own), or start the processes with `kt-wandb launch`."
        )
    return "chief" if "chief" in env["KERASTUNER_TUNER_ID"] else "worker"


def worker_id(environ: Mapping[str, str] | None = None) -> str:
    """The id of this worker (`KERASTUNER_TUNER_ID`)."""
    env = os.environ if environ is None else environ
    return env["KERASTUNER_TUNER_ID"]


def heartbeat_timeout(environ: Mapping[str, str] | None = None) -> float:
    """The heartbeat timeout in seconds, from `KT_WANDB_HEARTBEAT_TIMEOUT` (default 120)."""
    env = os.environ if environ is None else environ
    text = env.get(HEARTBEAT_TIMEOUT_ENV)
    if not text:
        return DEFAULT_HEARTBEAT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(
            f"Expected {HEARTBEAT_TIMEOUT_ENV} to be a positive number of seconds, received {text!r}. "
            f"To fix, set it to, say, 120, or unset it."
        )
    return value


def wait_for_chief(
    environ: Mapping[str, str] | None = None, *, timeout_s: float = CHIEF_WAIT_S, notice_after_s: float = 30.0
) -> float:
    """Waits until the chief serves the oracle; returns the seconds waited.

    The chief's tuner may wipe the project directory (`overwrite=True`) before
    it serves, so a worker touches that directory only once the chief answers.
    That lets workers start beside the chief, their imports overlapping its own.

    Raises:
        TimeoutError: When the chief has not answered in `timeout_s` seconds.
    """
    env = os.environ if environ is None else environ
    host, port = env["KERASTUNER_ORACLE_IP"], int(env["KERASTUNER_ORACLE_PORT"])
    started = time.monotonic()
    told = False
    while True:
        if answers(host, port, timeout_s=1.0):
            return time.monotonic() - started
        waited = time.monotonic() - started
        if waited >= timeout_s:
            raise TimeoutError(
                f"Expected the chief to serve the oracle on {host}:{port}, received no answer in {waited:.0f} s. "
                f"To fix, start the chief (the same script with KERASTUNER_TUNER_ID=chief) and check that "
                f"KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT name its address, or use `kt-wandb launch`."
            )
        if not told and waited >= notice_after_s:
            told = True
            logger.warning(f"worker waiting for the chief to serve the oracle on {host}:{port}.")
        time.sleep(0.1)


def expected_workers(environ: Mapping[str, str] | None = None) -> int:
    """How many workers the chief waits for, from `KT_WANDB_WORKERS` (0, the default: none in particular)."""
    env = os.environ if environ is None else environ
    text = env.get(WORKERS_ENV, "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(
            f"Expected {WORKERS_ENV} to be the number of workers, received {text!r}. "
            f"To fix, set it to a whole number such as 4, or unset it."
        )
    return int(text)


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


def _servicer_class() -> type:
    # Deferred: KerasTuner's gRPC modules are needed in distributed mode only.
    protos, OracleServicer, _ = chief_parts()

    def create_trial(oracle: Any, tuner_id: str) -> tuple[Any, bool]:
        trial = oracle.create_trial(tuner_id)
        if trial.status == TrialStatus.STOPPED and oracle.ongoing_trials:
            # Others still run trials; if one of them dies, this worker takes its trial over.
            oracle.tuner_ids.add(tuner_id)
            return Trial(oracle.get_space(), status=TrialStatus.IDLE), False
        return trial, trial.status == TrialStatus.STOPPED

    def take_back_late_result(oracle: Any, trial_id: str) -> bool:
        # A worker dropped as silent, alive after all, ends its trial while the trial waits in the queue to be
        # run again: keep the result, run it no more. (Once another worker has taken it over, the requests don't
        # say which worker ends it, and KerasTuner records both ends.)
        return take_from_queue(oracle, trial_id)

    class Servicer(OracleServicer):  # type: ignore[misc,valid-type]  # a class that chief_parts() imported
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
                trial, stopped = create_trial(self.oracle, request.tuner_id)
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
                if take_back_late_result(self.oracle, trial_id):
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

    return Servicer


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
    import grpc
    protos, _, exit_chief = chief_parts()

    timeout = heartbeat_timeout() if timeout is None else timeout
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    servicer = _servicer_class()(oracle)
    # gRPC binds with SO_REUSEPORT by default: a second chief on the same port would bind too and take half
    # the workers' connections. Without it, a port in use is refused here.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64), options=[("grpc.so_reuseport", 0)])
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise RuntimeError(
            f"Expected a free address for the chief's oracle server, received {address}, which could not be "
            f"bound (another chief, or another program, may use it). To fix, choose another "
            f"KERASTUNER_ORACLE_PORT (or let `kt-wandb launch` pick one)."
        )
    server.start()
    print(f"{SERVING_LINE}{address}; a worker silent for {timeout:g} s "
          f"gives its trial back.", flush=True)
    expected = expected_workers()
    finished_at: float | None = None
    try:
        while True:
            time.sleep(poll_s)
            with holding(oracle):
                dropped = reap_silent_workers(oracle, servicer.last_seen, timeout, time.monotonic())
            for tuner_id, trial_id in dropped:
                servicer.done.add(tuner_id)
                what = f"; trial {trial_id} goes back to the queue" if trial_id else ""
                logger.warning(f"worker {tuner_id} silent for over {timeout:g} s, dropped{what}.")
            if on_poll is not None:
                on_poll()
            with holding(oracle):
                ended = servicer.stop_triggered and exit_chief(oracle)
            if not ended:
                continue
            # Every trial is done. Workers still starting (or reading a finished search) have yet to be told
            # to stop: without an answer they would wait on the chief for KerasTuner's hour.
            if len(servicer.done) >= expected:
                break
            finished_at = finished_at or time.monotonic()
            if time.monotonic() - finished_at > timeout:
                logger.warning(f"{expected - len(servicer.done)} of {expected} worker(s) never asked for a trial "
                               f"in {timeout:g} s after the last one; the chief ends.")
                break
    finally:
        server.stop(grace=1)


class Heartbeat:
    """A worker's pulse to the chief while it runs a trial, from a thread of its own.

    Training holds no lock this thread needs, so a worker that is alive keeps
    beating through long epochs and compilations.

    Args:
        oracle: The worker's `OracleClient`.
        interval: Seconds between beats.
    """

    def __init__(self, oracle: Any, interval: float) -> None:
        self.oracle = oracle
        self.interval = interval
        self.trial_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="kt-wandb-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            trial_id = self.trial_id
            if trial_id is None:
                continue
            try:
                self.oracle.get_trial(trial_id)
            except Exception:  # the chief gone: the search loop itself will say so
                continue

    def stop(self) -> None:
        self._stop.set()
