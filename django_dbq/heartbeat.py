"""The heartbeat: a thread beside the worker loop that keeps its leases and writes outcomes."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from django.db import DatabaseError, InterfaceError, connections
from django.utils import timezone

from .models import Job, JobState

if TYPE_CHECKING:
    from .worker import Worker

logger = logging.getLogger(__name__)


class Heartbeat(threading.Thread):
    """Renews the leases of the jobs a worker holds, on its own database connection."""

    def __init__(self, worker: Worker):
        super().__init__(name=f"dbq-heartbeat-{worker.worker_id}", daemon=True)
        self.worker = worker
        self.interval = worker.lease.seconds / 3
        self._stopped = threading.Event()

    def run(self) -> None:
        # Wake often enough to write outcomes that wait behind a long step (outcomes.py).
        tick = min(self.interval, max(self.worker.outcomes.max_delay, 0.01))
        next_beat = time.monotonic() + self.interval
        try:
            while not self._stopped.wait(tick):
                try:
                    if self.worker.outcomes.due():
                        self.flush_outcomes()
                    if time.monotonic() >= next_beat:
                        next_beat = time.monotonic() + self.interval
                        self.beat()
                except Exception:
                    # Whatever went wrong (a signal receiver's bug...), this thread must live
                    # on: without it leases lapse and running steps would be run twice.
                    logger.exception("event=heartbeat_error worker=%s", self.worker.worker_id)
        finally:
            connections.close_all()

    def flush_outcomes(self) -> None:
        """Write the worker's buffered outcomes from this thread, on this thread's connection."""
        try:
            self.worker.outcomes.flush()
        except (DatabaseError, InterfaceError) as error:
            logger.error(
                "event=outcome_write_failed worker=%s error=%r", self.worker.worker_id, error
            )
            connections.close_all()

    def beat(self) -> int:
        """Extend every held lease by the lease length; returns leases renewed."""
        with self.worker._held_lock:
            ids = list(self.worker.held)
        if not ids:
            return 0
        try:
            ours = Job.objects.filter(pk__in=ids, lease_owner=self.worker.worker_id)
            renewed = ours.filter(state__in=(JobState.PROCESSING, JobState.STOPPING)).update(
                lease_expires_at=self.worker.lease.until(timezone.now())
            )
            # A held job no longer PROCESSING under our name was cancelled (STOPPING) or taken
            # over: the worker must not start another step of it.
            still = set(ours.filter(state=JobState.PROCESSING).values_list("pk", flat=True))
            with self.worker._held_lock:
                lost = (set(ids) - still) & self.worker.held
                self.worker.lost_leases.update(lost)
            return renewed
        except (DatabaseError, InterfaceError) as error:
            logger.error("event=heartbeat_failed worker=%s error=%r", self.worker.worker_id, error)
            connections.close_all()
            return 0

    def stop(self) -> None:
        """Stop after the current beat."""
        self._stopped.set()
        self.join(timeout=5)
