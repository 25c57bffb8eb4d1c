"""Bounding a step's run time: SIGALRM in a main thread, an asynchronous exception elsewhere.

In a process's main thread the limit is a SIGALRM timer: it interrupts the step even while it
waits in a system call. Signals only reach the main thread, so in the threads of
``worker --concurrency N`` a watchdog thread raises StepTimeout inside the step's thread
instead (CPython's ``PyThreadState_SetAsyncExc``). That exception is delivered when the thread
next runs Python code: a step blocked in C (a socket read without its own timeout) is stopped
only once that call returns. docs/reference.md says when to prefer processes for this reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import threading
import time
from collections.abc import Iterator

from .exceptions import StepTimeout

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise StepTimeout inside the block once it has run for ``seconds``."""
    if not seconds:
        yield
        return
    message = f"step exceeded its timeout of {seconds:g} seconds"
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        with _alarm(seconds, message):
            yield
    elif _can_interrupt_threads():
        try:
            with _ThreadDeadline(seconds, message):
                yield
        except _AsyncStepTimeout:  # delivered inside __exit__, before it was cancelled
            raise StepTimeout(message) from None
    else:
        logger.warning("event=timeout_not_enforced seconds=%s reason=unsupported", seconds)
        yield


@contextlib.contextmanager
def _alarm(seconds: float, message: str) -> Iterator[None]:
    def on_alarm(signum, frame):
        raise StepTimeout(message)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _AsyncStepTimeout(StepTimeout):
    """Raised into a thread by the watchdog; replaced by a StepTimeout with a message."""


def _can_interrupt_threads() -> bool:
    return hasattr(ctypes, "pythonapi") and hasattr(ctypes.pythonapi, "PyThreadState_SetAsyncExc")


def _set_async_exception(thread_id: int, exception: type[BaseException] | None) -> int:
    """Schedule (or with None, cancel) an exception in a thread; returns threads affected."""
    return ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None
    )


class _ThreadDeadline:
    """A deadline for the current (non-main) thread, enforced by the watchdog."""

    def __init__(self, seconds: float, message: str):
        self.seconds = seconds
        self.message = message
        self.thread_id = threading.get_ident()
        self.deadline = 0.0
        # Guards armed/fired: the watchdog must never raise into the thread once it has left
        # the block, where the exception would hit the worker's own bookkeeping.
        self.lock = threading.Lock()
        self.armed = False
        self.fired = False

    def __enter__(self) -> _ThreadDeadline:
        self.deadline = time.monotonic() + self.seconds
        self.armed = True
        _watchdog().watch(self)
        return self

    def fire(self) -> None:
        """Called by the watchdog once the deadline has passed."""
        with self.lock:
            if self.armed:
                self.armed = False
                self.fired = True
                _set_async_exception(self.thread_id, _AsyncStepTimeout)

    def __exit__(self, exc_type, exc, tb) -> bool:
        with self.lock:
            self.armed = False
            fired = self.fired
        _watchdog().forget(self)
        if not fired:
            return False
        # Cancel the exception in case it is still pending, so it cannot surface later.
        _set_async_exception(self.thread_id, None)
        if exc_type is None or issubclass(exc_type, StepTimeout):
            # Whether the step saw the exception, swallowed it or never reached a point where
            # it could be delivered, the step failed by its timeout.
            # The traceback (when there is one) shows where the step was interrupted.
            raise StepTimeout(self.message).with_traceback(tb) from None
        return False  # the step's own exception (perhaps raised from the timeout): keep it


class _Watchdog(threading.Thread):
    """One daemon thread that fires the deadlines of steps running in worker threads."""

    def __init__(self) -> None:
        super().__init__(name="dbq-timeout-watchdog", daemon=True)
        self._condition = threading.Condition()
        # At most one per worker thread: a plain set scanned for the earliest is enough.
        self._active: set[_ThreadDeadline] = set()

    def watch(self, deadline: _ThreadDeadline) -> None:
        with self._condition:
            self._active.add(deadline)
            self._condition.notify()

    def forget(self, deadline: _ThreadDeadline) -> None:
        with self._condition:
            self._active.discard(deadline)

    def run(self) -> None:
        while True:
            with self._condition:
                now = time.monotonic()
                due = [deadline for deadline in self._active if deadline.deadline <= now]
                self._active.difference_update(due)
                if not due:
                    earliest = min((d.deadline for d in self._active), default=None)
                    self._condition.wait(None if earliest is None else earliest - now)
                    continue
            for deadline in due:
                deadline.fire()


_WATCHDOG: _Watchdog | None = None
_WATCHDOG_LOCK = threading.Lock()


def _watchdog() -> _Watchdog:
    global _WATCHDOG
    with _WATCHDOG_LOCK:
        if _WATCHDOG is None or not _WATCHDOG.is_alive():
            _WATCHDOG = _Watchdog()
            _WATCHDOG.start()
        return _WATCHDOG
