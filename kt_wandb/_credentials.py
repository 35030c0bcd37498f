"""Whether W&B credentials are configured, without importing wandb (or Keras)."""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from urllib.parse import urlparse

__all__ = ["has_credentials"]


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
