"""Step outcomes written in groups: many jobs' advances in one transaction, one commit.

A worker running fast steps would otherwise pay one commit (one disk flush on PostgreSQL and
MariaDB) per step. Instead, a succeeded step's guarded UPDATE waits here for a few milliseconds
and is written with the others in one transaction; a job that advances several steps meanwhile
is written once. Each UPDATE keeps its guard (state PROCESSING, lease_owner), so a worker that
lost a lease still writes nothing over the new owner's progress.

What this changes for a crash: a step whose outcome was still waiting here runs again after
its lease expires, exactly like a step that was running; delivery stays at least once. Atomic
jobs and failures are never buffered: they are written at once.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import OperationalError, router

from .models import Job

if TYPE_CHECKING:
    from .executor import Lease

logger = logging.getLogger(__name__)


@dataclass
class Pending:
    """The latest unwritten values of one job, and what to do once they are written."""

    job: Job
    lease: Lease
    values: dict[str, Any]
    since: float
    # Called once the write is settled: with None when written, else the outcome instead.
    after_write: list[Callable[..., None]] = field(default_factory=list)


class OutcomeBuffer:
    """Holds succeeded steps' outcomes and writes them together; safe to flush from any thread."""

    def __init__(self, max_pending: int = 100, max_delay: float = 0.05):
        self.max_pending = max_pending
        self.max_delay = max_delay
        self._pending: dict[Any, Pending] = {}
        self._lock = threading.RLock()
        # Called with the ids of jobs whose outcome was written (or given up on).
        self.on_flushed: Callable[[set], None] = lambda ids: None
        # Ids of jobs whose outcome could not be written (cancelled, lease lost, database
        # error): a worker must not run another step of them. The worker discards an id once
        # it has stopped that job.
        self.lost: set = set()

    def add(
        self, job: Job, lease: Lease, values: dict[str, Any], after_write: Callable[..., None]
    ) -> None:
        """Buffer a succeeded step's values; a later step of the same job overrides them."""
        # A snapshot: the next step changes the job's workspace in place while this outcome
        # waits, and another thread may write it meanwhile (rescued, that step would run twice).
        values = {
            name: copy.deepcopy(value) if name in ("workspace", "result") else value
            for name, value in values.items()
        }
        with self._lock:
            entry = self._pending.get(job.pk)
            if entry is None:
                entry = self._pending[job.pk] = Pending(job, lease, {}, time.monotonic())
            entry.values.update(values)
            entry.after_write.append(after_write)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._pending

    def __len__(self) -> int:
        return len(self._pending)

    def due(self) -> bool:
        """Whether the buffer is full or its oldest outcome has waited long enough."""
        if self.max_delay <= 0:
            return bool(self._pending)
        with self._lock:
            if not self._pending:
                return False
            if len(self._pending) >= self.max_pending:
                return True
            oldest = min(entry.since for entry in self._pending.values())
            return time.monotonic() - oldest >= self.max_delay

    def flush(self) -> int:
        """Write every buffered outcome in one transaction; returns how many jobs were written.

        A database error leaves the jobs to their leases (they are rescued and run again) and is
        raised for the caller to handle.
        """
        with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return 0
            try:
                written = self._write(pending)
            except Exception:
                # Not written: the steps will be rescued and run again, so their jobs are no
                # longer this worker's to continue.
                self.lost.update(pending)
                self.on_flushed(set(pending))
                raise
            self.lost.update(set(pending) - written)
            self.on_flushed(set(pending))
        for job_id, entry in pending.items():
            instead = None
            if job_id not in written:
                from .executor import CANCELLED, LOST, _cancel_if_stopping

                instead = CANCELLED if _cancel_if_stopping(entry.job, entry.lease) else LOST
                if instead == LOST:
                    logger.warning(
                        "event=lease_lost job=%s id=%s while=writing_outcome",
                        entry.job.name,
                        job_id,
                    )
            for callback in entry.after_write:
                callback(instead)
        return len(written)

    def _write(self, pending: dict[Any, Pending]) -> set:
        from .claim import claimer_for
        from .claim.base import is_deadlock

        claimer = claimer_for(router.db_for_write(Job))
        # Same order in every worker, so concurrent writes cannot deadlock each other.
        ordered = [
            (entry.job, entry.lease.owner, entry.values)
            for _, entry in sorted(pending.items(), key=lambda item: str(item[0]))
        ]
        for attempt in range(3):
            try:
                return claimer.write_outcomes(ordered)
            except OperationalError as error:
                # MariaDB/MySQL report deadlocks with claims as errors; the writes are
                # idempotent (absolute values, guarded), so the whole group is simply retried.
                if attempt == 2 or not is_deadlock(error):
                    raise
                logger.warning("event=outcome_write_retry attempt=%s error=%r", attempt + 1, error)
        return set()
