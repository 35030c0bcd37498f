"""Signals during a search: SIGTERM and SIGHUP end it as Ctrl-C does, with the trial's run finished first."""

from __future__ import annotations

import signal
import sys
import threading
from types import TracebackType
from typing import Any

__all__ = ["Interruptions", "SearchTerminated"]


class SearchTerminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) during a search: handled as Ctrl-C, so the trial's run is finished before the process ends.

    Attributes:
        signum: The signal received; a process ending on it exits with 128 + signum, as shells report it.
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        self.signum = int(signum)
        super().__init__(f"received signal {self.signum} ({signal.Signals(self.signum).name})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.signum,))


def _handled_signals() -> list[signal.Signals]:
    """SIGTERM always; SIGHUP (a closed terminal or ssh session) where the process has it and doesn't ignore it."""
    wanted = [signal.SIGTERM]
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None and signal.getsignal(hangup) is signal.SIG_DFL:  # `nohup` leaves it ignored: keep that
        wanted.append(hangup)
    return wanted


class Interruptions:
    """Owns a search's signal handling, from `__enter__` to `__exit__`.

    Inside, SIGTERM (and SIGHUP, unless ignored) raise `SearchTerminated`, a
    `KeyboardInterrupt`, so the search finishes the trial's run as on Ctrl-C.
    An interruption that Python dropped because it landed in a finalizer
    (`__del__`, run when a trial's graphs are freed) is kept, through
    `sys.unraisablehook`, and raised again by `raise_pending()`: at the next
    epoch end, trial start, or the search's end. One that user code caught is
    not. Outside the main thread, where Python allows no handler, it does nothing.
    On exit the handlers found on entry are back (a handler that C code
    installed, which Python sees as None, becomes the default one) and nothing
    pending is carried to the next search.

    Example:
        >>> from kt_wandb.tuners._signals import Interruptions
        >>> with Interruptions() as interruptions:
        ...     interruptions.raise_pending()  # nothing dropped: returns
    """

    def __init__(self) -> None:
        self._dropped: list[KeyboardInterrupt] = []
        self._previous: dict[signal.Signals, Any] = {}
        self._previous_hook: Any = None

    def __enter__(self) -> Interruptions:
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in _handled_signals():
            self._previous[signum] = signal.signal(signum, self._terminate)
        self._previous_hook = sys.unraisablehook
        sys.unraisablehook = self._keep_dropped
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self._previous.clear()
        if self._previous_hook is not None and sys.unraisablehook == self._keep_dropped:
            sys.unraisablehook = self._previous_hook
        self._previous_hook = None
        self._dropped.clear()

    def raise_pending(self) -> None:
        """Raises again the first interruption that Python dropped in a finalizer, if any."""
        if self._dropped:
            dropped = self._dropped.pop(0)
            self._dropped.clear()
            if isinstance(dropped, SearchTerminated):
                raise SearchTerminated(dropped.signum)
            raise type(dropped)(*dropped.args)

    def _terminate(self, signum: int, frame: Any) -> None:
        raise SearchTerminated(signum)

    def _keep_dropped(self, unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):  # SearchTerminated too
            self._dropped.append(unraisable.exc_value)
        (self._previous_hook or sys.__unraisablehook__)(unraisable)
