"""W&B settings that need no import of wandb (or Keras): credentials, and the bound on a trial's waits."""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

__all__ = ["DEFAULT_TIMEOUT", "check_timeout", "has_credentials"]

# The most seconds a trial waits on W&B: half for its run's start, half for its finish (the upload).
DEFAULT_TIMEOUT = 60.0


def has_credentials(environ: Mapping[str, str] | None = None) -> bool:
    """Whether W&B credentials are configured: `WANDB_API_KEY` or a netrc entry."""
    env = os.environ if environ is None else environ
    if env.get("WANDB_API_KEY") or env.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlparse(env.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    path = env.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    try:
        return netrc.netrc(path).authenticators(host or "api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def check_timeout(timeout: Any) -> float:
    """`wandb_timeout` as a float: a positive number of seconds."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
        raise ValueError(
            f"Expected `wandb_timeout` to be a positive number of seconds, received {timeout!r}. To fix, pass the "
            f"most seconds a trial may wait on W&B's server (default {DEFAULT_TIMEOUT:g}), e.g. wandb_timeout=120."
        )
    return float(timeout)
