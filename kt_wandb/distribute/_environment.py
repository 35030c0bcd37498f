"""A process's place in KerasTuner's distributed mode, from its environment: role, worker id, timeouts, the chief.

KerasTuner's chief serves the oracle over gRPC and workers ask it for trials
(`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from kt_wandb._handshake import WORKERS_ENV, answers
from kt_wandb._log import logger

__all__ = [
    "CHIEF_WAIT_S", "DEFAULT_HEARTBEAT_TIMEOUT", "HEARTBEAT_TIMEOUT_ENV", "chief_address", "expected_workers",
    "heartbeat_timeout", "role", "wait_for_chief", "worker_id",
]

# Seconds a worker may stay silent before the chief gives its trial to another worker.
HEARTBEAT_TIMEOUT_ENV = "KT_WANDB_HEARTBEAT_TIMEOUT"
DEFAULT_HEARTBEAT_TIMEOUT = 120.0
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


def chief_address(environ: Mapping[str, str] | None = None) -> str:
    """The chief's `host:port` (`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`)."""
    env = os.environ if environ is None else environ
    return f"{env['KERASTUNER_ORACLE_IP']}:{env['KERASTUNER_ORACLE_PORT']}"


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
