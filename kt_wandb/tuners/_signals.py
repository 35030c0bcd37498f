"""Signals during a search: SIGTERM and SIGHUP end it as Ctrl-C does, with the trial's run finished first."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
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
    """SIGTERM and SIGHUP (a closed terminal or ssh session), each only where the program left it to the default.

    An ignored one stays ignored (`nohup` ignores SIGHUP; a program may ignore SIGTERM), and a handler of the
    program's own (a cluster's preemption hook) stays in charge: as under plain KerasTuner. Such a handler that
    ends the program (`sys.exit`) still gets the trial's run finished, as any exception does.
    """
    wanted = [signal.SIGTERM, getattr(signal, "SIGHUP", None)]
    return [signum for signum in wanted if signum is not None and signal.getsignal(signum) is signal.SIG_DFL]


class Interruptions:
    """Owns a search's signal handling, from `__enter__` to `__exit__`.

    Inside, SIGTERM and SIGHUP (each where left to the default) raise
    `SearchTerminated`, a `KeyboardInterrupt`, so the search finishes the
    trial's run as on Ctrl-C; Ctrl-C raises `KeyboardInterrupt` as Python's own
    handler does. One that lands while the handlers are swapped waits until
    they all are: raised at the first look on entry, handed to the handler
    found on entry on exit.
    An interruption that Python dropped because it landed in a finalizer
    (`__del__`, run when a trial's graphs are freed) is kept, through
    `sys.unraisablehook`, and raised again by `raise_pending()`: at the next
    epoch end, trial start, failed trial's end, or the search's end. So is a
    SIGTERM or SIGHUP that code caught: the search's to end, also where a
    library turned it into an error (Keras's bare `except:` while it builds
    its loss, on the first step). A Ctrl-C that code caught is not (Python's rule).
    Outside the main thread, where Python allows no handler, it does nothing.
    On exit the handlers found on entry are back (a handler that C code
    installed, which Python sees as None, becomes the default one) and nothing
    pending is carried to the next search.

    `deferred()` holds Ctrl-C and the signals above back while a trial's run
    finishes, and raises the first one after it; a second one raises at once.

    Examples:
        >>> from kt_wandb.tuners._signals import Interruptions
        >>> with Interruptions() as interruptions:
        ...     interruptions.raise_pending()  # nothing dropped: returns
    """

    def __init__(self) -> None:
        self._dropped: list[KeyboardInterrupt] = []
        self._previous: dict[signal.Signals, Any] = {}
        self._previous_hook: Any = None
        self._held: list[KeyboardInterrupt] | None = None  # inside `deferred()`: what arrived meanwhile
        self._swapping: list[int] | None = None  # while the handlers are swapped: the signals that arrived

    def __enter__(self) -> Interruptions:
        if threading.current_thread() is not threading.main_thread():
            return self
        wanted = _handled_signals()
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # Ctrl-C, where left to Python
            wanted.append(signal.SIGINT)
        arrived = self._swapping = []  # one that lands between two swaps waits, and is raised at the first look
        try:
            for signum in wanted:
                self._previous[signum] = signal.signal(signum, self._hold)
            self._previous_hook = sys.unraisablehook
            sys.unraisablehook = self._keep_dropped
        finally:
            self._swapping = None
        self._dropped.extend(self._interruption(signum) for signum in arrived[:1])
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        arrived = self._swapping = []  # one that lands between two swaps goes to the handler found on entry
        try:
            for signum, previous in self._previous.items():
                signal.signal(signum, signal.SIG_DFL if previous is None else previous)
            self._previous.clear()
            if self._previous_hook is not None and sys.unraisablehook == self._keep_dropped:
                sys.unraisablehook = self._previous_hook
            self._previous_hook = None
            self._dropped.clear()
            self._held = None
        finally:
            self._swapping = None
        for number in arrived[:1]:
            os.kill(os.getpid(), number)

    def raise_pending(self) -> None:
        """Raises again the first interruption that Python dropped in a finalizer, or code swallowed, if any."""
        if self._dropped:
            dropped = self._dropped.pop(0)
            self._dropped.clear()
            if isinstance(dropped, SearchTerminated):
                raise SearchTerminated(dropped.signum)
            raise type(dropped)(*dropped.args)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Holds interruptions back inside, and raises the first one at its end.

        A second interruption inside raises at once: a user who presses Ctrl-C
        twice is not kept waiting. Where an exception ends it with one held,
        the interruption is raised, the exception as its cause. Outside the
        search's signal handling (or nested) it holds nothing back.
        """
        if not self._previous or self._held is not None:
            yield
            return
        held: list[KeyboardInterrupt] = []
        try:
            self._held = held  # one store: a signal lands before it (raised at once) or after it (held)
            yield
        except BaseException as exc:
            if held and exc is not held[0]:
                raise held[0] from exc
            raise
        finally:
            self._held = None
        if held:
            raise held[0]

    @staticmethod
    def _interruption(signum: int) -> KeyboardInterrupt:
        return KeyboardInterrupt() if signum == signal.SIGINT else SearchTerminated(signum)

    def _hold(self, signum: int, frame: Any) -> None:
        if self._swapping is not None:  # between two swaps of the handlers: raising would leave some swapped
            self._swapping.append(signum)
            return
        interruption = self._interruption(signum)
        if self._held is None or self._held:  # not holding, or the second one: now
            if isinstance(interruption, SearchTerminated):  # the search's to end: where code swallows it (Keras's
                self._dropped.append(interruption)  # bare `except:`), it comes back at the next look
            raise interruption
        self._held.append(interruption)

    def _keep_dropped(self, unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):  # SearchTerminated too
            self._dropped.append(unraisable.exc_value)
        (self._previous_hook or sys.__unraisablehook__)(unraisable)
