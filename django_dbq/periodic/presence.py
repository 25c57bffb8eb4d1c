"""The worker row: a process says it is alive, what it runs, and prunes dead processes' rows."""

from __future__ import annotations

import datetime
import logging
import os
import random
import socket
import time
import uuid
from typing import TYPE_CHECKING

from django.db import DatabaseError, InterfaceError, close_old_connections
from django.utils import timezone

from ..worker_rows import WorkerProcess
from . import DatabaseBackoff

if TYPE_CHECKING:
    from ..worker import Worker

logger = logging.getLogger(__name__)

# A row not updated for this many lease lengths belongs to a process that died (or hangs): any
# live worker deletes it. Beats come every third of a lease, so this is a dozen missed beats.
STALE_AFTER_LEASES = 4
# Tries to delete the row when the process exits.
DELETE_ATTEMPTS = 3


class WorkerPresence:
    """Keeps this process's WorkerProcess row: insert, one UPDATE per beat, delete on close().

    Runs on the heartbeat's thread, so that the row says the process is alive exactly when its
    leases are renewed (a hook on the housekeeping thread can take minutes). One UPDATE of its
    own row, which nothing else locks; database errors are logged and retried with backoff, and
    never stop a worker.
    """

    name = "presence"

    def __init__(self, workers: list[Worker]):
        if not workers:
            raise ValueError("a worker row needs at least one worker loop")
        self.workers = workers
        lease_seconds = min(worker.lease.seconds for worker in workers)
        self.interval = lease_seconds / 3
        self.stale_after = lease_seconds * STALE_AFTER_LEASES
        host = socket.gethostname()[:60]
        self.id = f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.host = host
        self.backoff = DatabaseBackoff("worker_row_database_error", f"worker_row={self.id}")
        self._stored = False
        self._started_at: datetime.datetime | None = None
        self._next_prune = 0.0  # a POSIX timestamp: prune at the first beat

    def run_once(self) -> float:
        """Write the row (insert first, then one UPDATE); returns the seconds until the next."""
        try:
            self._beat()
        except (DatabaseError, InterfaceError) as error:
            return self.backoff.failed(error)
        self.backoff.succeeded()
        return self.interval

    def close(self) -> None:
        """Delete the row: the process exits cleanly. Tried three times over about a second
        (a row left behind reads as a live worker until it is two leases old)."""
        for attempt in range(1, DELETE_ATTEMPTS + 1):
            if not self._stored:
                return
            try:
                WorkerProcess.objects.filter(pk=self.id).delete()
                self._stored = False
            except (DatabaseError, InterfaceError) as error:
                logger.error(
                    "event=worker_row_not_deleted worker_row=%s attempt=%s error=%r",
                    self.id,
                    attempt,
                    error,
                )
                if attempt < DELETE_ATTEMPTS:
                    close_old_connections()  # a broken connection is replaced
                    time.sleep(0.3 * attempt)

    def _beat(self) -> None:
        now = timezone.now()
        current = [str(w.current_job.pk) for w in self.workers if w.current_job is not None]
        steps = sum(worker.steps_run for worker in self.workers)
        # Another process may have pruned the row while this one could not write (a long
        # outage): then insert it again.
        if not self._stored or not WorkerProcess.objects.filter(pk=self.id).update(
            last_seen=now, current_jobs=current, steps_run=steps
        ):
            self._insert(now, current, steps)
        if self._next_prune <= now.timestamp():
            self._prune(now)

    def _insert(self, now: datetime.datetime, current: list[str], steps: int) -> None:
        worker = self.workers[0]
        if self._started_at is None:
            self._started_at = now
        WorkerProcess.objects.update_or_create(
            pk=self.id,
            defaults={
                "queue_name": worker.queue_name,
                "host": self.host,
                "pid": os.getpid(),
                "concurrency": len(self.workers),
                "worker_ids": [w.worker_id for w in self.workers],
                "current_jobs": current,
                "steps_run": steps,
                "started_at": self._started_at,
                "last_seen": now,
            },
        )
        self._stored = True
        logger.debug("event=worker_row_written worker_row=%s", self.id)

    def _prune(self, now: datetime.datetime) -> None:
        """Delete the rows of processes not seen for STALE_AFTER_LEASES leases."""
        cutoff = now - datetime.timedelta(seconds=self.stale_after)
        pruned, _ = WorkerProcess.objects.filter(last_seen__lt=cutoff).delete()
        if pruned:
            logger.info("event=worker_rows_pruned count=%s", pruned)
        # Jittered, so that many workers started together do not all prune at once.
        self._next_prune = now.timestamp() + self.stale_after / 2 * (0.75 + random.random() / 2)
