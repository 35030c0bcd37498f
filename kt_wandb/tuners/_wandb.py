"""W&B settings of a search: its mode, identity, run ids and `wandb.init` arguments."""

from __future__ import annotations

import json
import os
import secrets
import string
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kt_wandb._records import IDENTITY_FILE
from kt_wandb._wandb_env import DEFAULT_TIMEOUT, has_credentials

__all__ = [
    "MODES",
    "RESERVED_INIT_KEYS",
    "SEARCH_ID_ENV",
    "SearchIdentity",
    "check_new_search_id",
    "has_credentials",
    "init_kwargs",
    "with_settings",
    "resolve_mode",
    "run_id",
]

MODES = ("online", "offline", "disabled")

# `wandb.init` arguments the tuner sets itself, with the argument that replaces each.
RESERVED_INIT_KEYS: Mapping[str, str] = {
    "project": "wandb_project=",
    "entity": "wandb_entity=",
    "mode": "wandb_mode=",
    "config": "the hypermodel's hyperparameters",
    "id": "the tuner (ids derive from the search and the trial)",
    "name": "the tuner (runs are named after their trial)",
    "resume": "the tuner",
    "reinit": "the tuner",
}

_ALPHABET = string.ascii_lowercase + string.digits



def resolve_mode(mode: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Chooses the W&B mode of a search.

    An explicit `mode` wins, then the `WANDB_MODE` variable, then online where
    credentials exist and offline elsewhere.

    Returns:
        The mode and a one-line reason for it.

    Raises:
        ValueError: For a mode W&B does not know.
    """
    env = os.environ if environ is None else environ
    source = "wandb_mode"
    if mode is None and env.get("WANDB_MODE"):
        mode, source = env["WANDB_MODE"], "WANDB_MODE"
        if mode == "dryrun":
            mode = "offline"
    if mode is not None:
        if mode not in MODES:
            raise ValueError(
                f"Expected {source} to be one of {list(MODES)}, received {mode!r}. "
                f"To fix, pass one of those, for example `wandb_mode=\"offline\"`."
            )
        return mode, f"W&B mode {mode!r} (from {source})"
    if has_credentials(env):
        return "online", "W&B credentials found: logging online"
    return "offline", "no W&B credentials found (WANDB_API_KEY or `wandb login`): logging offline"


def run_id(search_id: str, trial_id: str) -> str:
    """The W&B run id of a trial's first attempt: stable, so a resumed search finds it.

    A later attempt (after a crash, an interruption or a failure) adds `-r<n>`.
    """
    return f"{search_id}-{trial_id}"


# Gives every process of a distributed search the same id where they share no project directory.
SEARCH_ID_ENV = "KT_WANDB_SEARCH_ID"


class SearchIdentity:
    """The id of one search, kept in its project directory so a resume finds it.

    The first process to create the file wins (created whole, in one step), so
    the workers of a distributed search sharing the directory agree on the id.
    Where they share none, `KT_WANDB_SEARCH_ID` gives a new search its id.

    Args:
        project_dir: The tuner's project directory.
        **facts: What a reader of the search's records needs to know of it
            (objective, direction, oracle), written with a new id.
    """

    def __init__(self, project_dir: str | os.PathLike[str], **facts: Any) -> None:
        self.path = Path(project_dir) / IDENTITY_FILE
        wanted = os.environ.get(SEARCH_ID_ENV)
        if wanted is not None and not _valid_search_id(wanted):
            raise ValueError(
                f"Expected {SEARCH_ID_ENV} to be 1 to 32 lowercase letters and digits, received {wanted!r}. "
                f"To fix, set it to, say, 'mnist01', the same on every host of the search."
            )
        self.resumed = self.path.exists()
        if not self.resumed:
            facts = {
                "search_id": wanted or "".join(secrets.choice(_ALPHABET) for _ in range(8)),
                "created": datetime.now(timezone.utc).isoformat(),
                **facts,
            }
            self.resumed = not _create_whole(self.path, json.dumps(facts, indent=2))
        self.facts = json.loads(self.path.read_text())
        self.search_id = str(self.facts["search_id"])
        if wanted is not None and wanted != self.search_id:
            raise ValueError(
                f"Expected the search in {self.path.parent} to have {SEARCH_ID_ENV}={wanted!r}, received a "
                f"search with id {self.search_id!r} there. To fix, unset {SEARCH_ID_ENV} to resume that search, "
                f"or pass overwrite=True (or another project_name) to start a new one."
            )


def check_new_search_id(search_id: str, wandb_dir: str | os.PathLike[str]) -> None:
    """Refuses a new search whose id already has runs in `wandb_dir`: its runs would reuse their run ids.

    Only an id given through `KT_WANDB_SEARCH_ID` can repeat (a new search's own id is random), e.g.
    with `overwrite=True`; online, W&B also refuses to reopen a finished run (`resume="never"`).
    """
    used = sorted(Path(wandb_dir, "wandb").glob(f"*run-*-{search_id}-*"))
    if used:
        raise ValueError(
            f"Expected a new search id for a new search, received {SEARCH_ID_ENV}={search_id!r}, whose runs "
            f"already exist (such as {used[0]}): the new search's runs would take their run ids. To fix, set "
            f"{SEARCH_ID_ENV} to a new value for each new search (the same on every host of it), or unset it."
        )


def _valid_search_id(text: str) -> bool:
    return 0 < len(text) <= 32 and all(c in _ALPHABET for c in text)


def _create_whole(path: Path, text: str) -> bool:
    """Creates `path` holding `text` unless it exists; readers never see it half-written. True if created."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.write_text(text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # a filesystem without hard links: exclusive creation, then the text
        try:
            with open(path, "x") as file:
                file.write(text)
        except FileExistsError:
            return False
    finally:
        tmp.unlink()
    return True


def with_settings(given: Any, **updates: Any) -> Any:
    """The `settings` of `wandb.init` (None, a dict or a `wandb.Settings`) with `updates`, as the same kind.

    Where the user set one of them already, theirs is kept.
    """
    if given is None:
        return dict(updates)
    if isinstance(given, Mapping):
        return {**updates, **given}
    chosen = given.model_fields_set  # a wandb.Settings: what the user set, not its defaults
    return given.model_copy(update={k: v for k, v in updates.items() if k not in chosen})


def init_kwargs(
    *,
    project: str | None,
    entity: str | None,
    mode: str,
    user_kwargs: Mapping[str, Any],
    directory: str,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """The `wandb.init` arguments shared by every run of a search.

    A run waits at most `timeout` seconds on W&B's server: half to start
    (`init_timeout`), half to finish its upload (`finish_timeout`, which then
    raises `TimeoutError` with the run kept on disk), unless the user's own
    `settings` set them.

    Raises:
        ValueError: When `user_kwargs` holds an argument the tuner sets itself.
    """
    clash = sorted(set(user_kwargs) & set(RESERVED_INIT_KEYS))
    if clash:
        fixes = "; ".join(f"{k!r} is set by {RESERVED_INIT_KEYS[k]}" for k in clash)
        raise ValueError(
            f"Expected `wandb_kwargs` without the arguments the tuner sets itself, "
            f"received {clash}. To fix, drop them from `wandb_kwargs`: {fixes}."
        )
    kwargs: dict[str, Any] = {
        "project": project,
        "entity": entity,
        "mode": mode,
        "job_type": "trial",
        # Absolute: the wandb service that writes the files may run in another working directory.
        "dir": os.path.abspath(os.environ.get("WANDB_DIR") or directory),
    }
    kwargs.update(user_kwargs)
    kwargs["settings"] = with_settings(kwargs.get("settings"), init_timeout=timeout / 2,
                                       finish_timeout=timeout / 2, finish_timeout_raises=True)
    return kwargs
