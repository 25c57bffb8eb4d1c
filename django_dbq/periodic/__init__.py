"""Small parts a worker process runs beside its loops, each with an interval and run_once().

A worker process runs two threads of them, each on its own database connection:

- the heartbeat (heartbeat.py) and the process's worker row (presence.py): quick writes that
  nothing may delay, since a lapsed lease lets a step run twice;
- housekeeping: the rescue of expired leases (rescue.py) and the scheduler (scheduler.py),
  which run user code (failure hooks, creation hooks) and so may take a while.

A part may also have a ``close()``, run on its thread once the thread stops.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from django.db import connections

from ..engine.base import database_retry_delay

logger = logging.getLogger(__name__)


class Periodic(Protocol):
    """A part run every so often by a PeriodicThread."""

    name: str

    def run_once(self) -> float:
        """Do the part's work once; returns the seconds until it is due again."""
        ...


class DatabaseBackoff:
    """How long a part waits after database errors in a row: database_retry_delay(), logged."""

    def __init__(self, event: str, context: str = ""):
        self.event = event
        # key=value pairs naming who failed, logged with each error.
        self.context = context
        self.failures = 0

    def failed(self, error: BaseException) -> float:
        """Count one more error in a row, log it, drop the connections; the seconds to wait."""
        self.failures += 1
        delay = database_retry_delay(self.failures)
        logger.error(
            "event=%s %sattempt=%s retry_in=%.2f error=%r",
            self.event,
            f"{self.context} " if self.context else "",
            self.failures,
            delay,
            error,
        )
        connections.close_all()
        return delay

    def succeeded(self) -> None:
        """The part worked: the next error starts the backoff afresh."""
        self.failures = 0


class PeriodicThread(threading.Thread):
    """Runs each of its parts when due, until stopped; closes its connections at the end."""

    def __init__(self, name: str, parts: list[Periodic], first_delays: list[float] | None = None):
        super().__init__(name=name, daemon=True)
        self.parts = parts
        self._stopped = threading.Event()
        now = time.monotonic()
        self._due = [now + delay for delay in (first_delays or [0.0] * len(parts))]

    def run(self) -> None:
        try:
            while not self._stopped.is_set():
                for position, part in enumerate(self.parts):
                    if time.monotonic() >= self._due[position] and not self._stopped.is_set():
                        self._due[position] = time.monotonic() + self._run(part)
                self._stopped.wait(max(0.0, min(self._due) - time.monotonic()))
        finally:
            self._close_parts()
            connections.close_all()

    def _close_parts(self) -> None:
        for part in self.parts:
            close = getattr(part, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception:
                logger.exception("event=periodic_close_error part=%s", part.name)

    def _run(self, part: Periodic) -> float:
        try:
            return part.run_once()
        except Exception:
            # Whatever went wrong (a bug, a receiver's error), the thread lives on: without the
            # heartbeat leases lapse, without the rescuer dead workers' steps are never rerun.
            logger.exception("event=periodic_error part=%s", part.name)
            connections.close_all()
            return 1.0

    def stop(self, timeout: float = 10) -> None:
        """Stop after the part running now (if any)."""
        self._stopped.set()
        if self.is_alive():
            self.join(timeout)
