"""What stops a worker or a pool: its --max-jobs quota of steps and the stop signals."""

from __future__ import annotations

import signal
import threading


class StepQuota:
    """How many steps a worker (or all the threads of a pool) may still run; None: no limit."""

    def __init__(self, limit: int | None = None):
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Reserve one step; False once the limit is reached."""
        with self._lock:
            if self.limit is not None and self.used >= self.limit:
                return False
            self.used += 1
            return True

    def reached(self, ahead: int = 0) -> bool:
        return self.limit is not None and self.used + ahead >= self.limit

    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)


def install_stop_handlers(handler) -> dict:
    """Make SIGINT, SIGTERM and SIGQUIT call ``handler``; returns the handlers they replace.

    Only a process's main thread may set signal handlers: elsewhere nothing is installed.
    """
    previous: dict = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM", "SIGQUIT"):
            if hasattr(signal, name):
                number = getattr(signal, name)
                previous[number] = signal.signal(number, handler)
    return previous


def restore_handlers(previous: dict) -> None:
    """Put back the handlers install_stop_handlers() replaced (and forget them)."""
    for number, handler in previous.items():
        signal.signal(number, handler)
    previous.clear()
