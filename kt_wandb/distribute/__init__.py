"""KerasTuner's distributed mode: the process's environment, the chief's server and the worker's heartbeat.

The chief's server (`kt_wandb.distribute._chief`) and who may talk to it
(`kt_wandb.distribute._auth`, gRPC) are imported where a chief serves or a
worker connects, not here.
"""

from kt_wandb.distribute._environment import (
    CHIEF_WAIT_S,
    DEFAULT_HEARTBEAT_TIMEOUT,
    HEARTBEAT_TIMEOUT_ENV,
    chief_address,
    expected_workers,
    heartbeat_timeout,
    role,
    wait_for_chief,
    worker_id,
)
from kt_wandb.distribute._worker import Heartbeat

__all__ = [
    "CHIEF_WAIT_S", "DEFAULT_HEARTBEAT_TIMEOUT", "HEARTBEAT_TIMEOUT_ENV", "Heartbeat", "chief_address",
    "expected_workers", "heartbeat_timeout", "role", "wait_for_chief", "worker_id",
]
