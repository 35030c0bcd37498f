"""wandb's private internals, all in one place: this process's wandb service (`wandb-core`) and one setting.

wandb 0.31 (the oldest version `pyproject.toml` allows, and the one CI
tests) has no public call for any of these; each one here uses the SDK's
service connection or a private setting, is read from wandb's own code, and
degrades to what wandb does on its own when the SDK changes: every call is
guarded, and where the SDK lacks one, the search says so once, in one line
(`tests/tuners/test_service.py` pins the behaviour each relies on).

- `wait_written`: `run.finish()` returns once wandb-core has the run's exit
  record in its writer's buffer; the `.wandb` log is written and closed a
  moment later, when the service handles the `inform_finish` that `finish`
  sends last, without an answer. wandb-core handles one connection's requests
  in order and closes the stream inline, so any answered request sent after
  it (an unknown run's sync status, answered at once) returns once the log is
  whole on disk.
- `drop_stream`: an online `wandb.init` that failed leaves its run id "in use"
  in the service (its stream was added, never removed), so the offline retry
  with the same id is refused. An exit record, then `inform_finish`, removes
  it (without the exit record the service's close blocks forever).
  `stream_started` tells whether a failed start got that far.
- `forget_dead_service`: after wandb-core died, every later `wandb.init` fails
  at once (its connection is closed); dropping the connection makes the next
  `wandb.init` start a fresh service.
- `start_in_background`: starts the service (and what the first run imports)
  in a thread, so the first trial doesn't wait for it.
- `skip_requirements`: the private setting `x_save_requirements=False`, which
  spares each run after a search's first the package list (listing it costs
  more than the rest of a run's start together).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from kt_wandb._log import logger

__all__ = [
    "drop_stream", "forget_dead_service", "service_alive", "skip_requirements", "start_in_background",
    "stream_started", "wait_written",
]

# What an SDK that moved or renamed an internal raises when it is used.
_CHANGED = (AttributeError, ImportError, TypeError, NameError)
_said: set[str] = set()


def _changed(what: str, exc: BaseException) -> None:
    """Says once per process that this wandb lacks an internal, and what the search does without it."""
    if what not in _said:
        _said.add(what)
        import wandb

        logger.warning(f"this wandb ({getattr(wandb, '__version__', '?')}) lacks what kt-wandb uses to {what} "
                       f"({type(exc).__name__}: {exc}); the search goes on without it. kt-wandb is tested on "
                       f"wandb 0.31: to fix, install the version pyproject.toml names.")

_TIMEOUT = 30.0
_BARRIER_ID = "kt-wandb-barrier"


def _singleton() -> Any:
    from wandb.sdk import wandb_setup

    return wandb_setup.singleton()


def _barrier(timeout: float) -> None:
    setup = _singleton()
    connection = setup.assert_service()
    setup.asyncer.run(lambda: connection.sync_status(_BARRIER_ID)).wait_or(timeout=timeout)


def wait_written(timeout: float = _TIMEOUT) -> bool:
    """Waits until every run this process finished is written whole to its log; False if that can't be known."""
    try:
        _barrier(timeout)
    except _CHANGED as exc:  # an SDK without these calls: the run's record says it wasn't confirmed
        _changed("wait until a finished run is whole on disk (its record says written: false)", exc)
        return False
    except Exception:  # no service (W&B disabled), or a dead one (said by the run that lost it)
        return False
    return True


def drop_stream(run_id: str, timeout: float = _TIMEOUT) -> bool:
    """Makes the service forget the run of a `wandb.init` that failed, so its id can be used again."""
    try:
        from wandb.sdk.interface.interface_sock import InterfaceSock

        setup = _singleton()
        connection = setup.assert_service()
        interface = InterfaceSock(setup.asyncer, connection._client, stream_id=run_id)
        interface.deliver_exit(1).wait_or(timeout=timeout)
        connection.inform_finish(run_id=run_id)
        _barrier(timeout)
    except _CHANGED as exc:  # the offline retry then fails as "in use", and the search says so
        _changed("drop a failed online start before its offline retry", exc)
        return False
    except Exception:
        return False
    return True


def skip_requirements(settings: Any) -> Any:
    """`wandb.init`'s `settings` (None, a dict or a `wandb.Settings`) told not to record the package list.

    Where this wandb has no such setting, `settings` as they are: each run records it, as wandb does.
    """
    import wandb

    if "x_save_requirements" not in getattr(wandb.Settings, "model_fields", {}):
        _changed("skip the package list after a search's first run", KeyError("x_save_requirements"))
        return settings
    from kt_wandb.tuners._wandb import with_settings

    return with_settings(settings, x_save_requirements=False)


def stream_started(exc: BaseException) -> bool:
    """Whether the `wandb.init` that raised `exc` got as far as a stream in the service (to drop before a retry).

    wandb raises `UsageError` for what it checks before it asks the service
    for the run (no API key, bad arguments): that leaves no stream, and
    waiting for one would cost the drop's whole timeout.
    """
    try:
        from wandb.errors import UsageError
    except ImportError:  # an SDK that moved it: drop, as before, and wait at worst
        return True
    return not isinstance(exc, UsageError)


def service_alive() -> bool | None:
    """Whether this process's wandb-core runs: None where none was started (or it can't be told)."""
    try:
        connection = _singleton()._connection
        process = connection._proc._process if connection is not None and connection._proc is not None else None
    except Exception:
        return None
    return None if process is None else process.poll() is None


def forget_dead_service() -> None:
    """Drops the connection to a wandb-core that died, and its runs (they can never finish)."""
    setup = _singleton()
    old, setup._connection = setup._connection, None
    if old is not None:
        try:
            old.teardown(1)  # unregisters its exit hook and WANDB_SERVICE, then fails to reach the dead service
        except Exception:
            pass
    for run in list(getattr(setup, "_active_runs", [])):
        try:
            setup.remove_active_run(run)
        except Exception:
            pass


def _start() -> None:
    try:
        from wandb.sdk import wandb_setup

        wandb_setup.setup()
        importlib.import_module("wandb.sdk.launch")  # what the first run's start imports otherwise
    except Exception:  # the first run starts it then, as wandb does on its own
        pass


def start_in_background() -> threading.Thread | None:
    """Starts the wandb service in a thread, unless this process has one; returns the thread."""
    try:
        if _singleton()._connection is not None:
            return None
    except Exception:
        return None
    thread = threading.Thread(target=_start, name="kt-wandb-service-start", daemon=True)
    thread.start()
    return thread
