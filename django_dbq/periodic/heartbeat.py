"""The heartbeat: keeps the leases of a process's worker loops, and writes their due outcomes."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from django.db import DatabaseError, InterfaceError, connections
from django.utils import timezone

from .. import transitions
from . import PeriodicThread

if TYPE_CHECKING:
    from ..worker import Worker

logger = logging.getLogger(__name__)


class Heartbeat:
    """Renews the leases of the jobs its workers hold, on its own thread and connection.

    One heartbeat serves every worker loop of a process (``worker --concurrency N``), so a pool
    holds N + 1 connections (plus housekeeping's), not 2N. It runs alone on its thread: nothing
    there may delay a renewal, so outcomes (whose signals run user code) are written aside.
    """

    name = "heartbeat"

    def __init__(self, *workers: Worker):
        if not workers:
            raise ValueError("a heartbeat needs at least one worker")
        self.workers = workers
        self.interval = min(worker.lease.seconds for worker in workers) / 3
        # Wake often enough to write outcomes that wait behind a long step (outcomes.py).
        max_delay = min(worker.outcomes.max_delay for worker in workers)
        self.tick = min(self.interval, max(max_delay, 0.01))
        self._next_beat = time.monotonic() + self.interval
        self._thread: PeriodicThread | None = None
        # Per worker, the thread writing its due outcomes, if one is (see write_aside()).
        self._writers: dict[int, threading.Thread] = {}
        # Per worker, leases the last renewal skipped because another transaction locked their
        # row: tried again at every tick, so a lock released just before expiry is renewed at
        # once rather than at the next beat.
        self._skipped: dict[int, list] = {}

    @property
    def worker(self) -> Worker:
        """The first (for a plain worker: the only) worker served."""
        return self.workers[0]

    def start(self, also: list | None = None) -> None:
        """Start renewing on a thread of its own; each worker served knows it has a heartbeat.

        ``also``: other quick parts to run on that thread (the worker row), due at once.
        """
        for worker in self.workers:
            worker.heartbeat = self
        others = list(also or [])
        self._thread = PeriodicThread(
            f"dbq-heartbeat-{self.worker.worker_id}",
            [self, *others],
            first_delays=[self.tick, *[0.0] * len(others)],
        )
        self._thread.start()

    def run_once(self) -> float:
        """One tick: write due outcomes aside, renew leases when a beat is due (else retry the
        ones a row lock made it skip); returns the seconds until the next tick."""
        beat_due = time.monotonic() >= self._next_beat
        if beat_due:
            self._next_beat = time.monotonic() + self.interval
        for worker in self.workers:
            try:
                if worker.outcomes.due():
                    self.write_aside(worker)
                if beat_due:
                    self.renew(worker)
                elif id(worker) in self._skipped:
                    self.renew_skipped(worker)
            except Exception:
                # Whatever went wrong (a signal receiver's bug...), the other workers' leases
                # must still be renewed: without them running steps would run twice.
                logger.exception("event=heartbeat_error worker=%s", worker.worker_id)
        return self.tick

    def write_aside(self, worker: Worker) -> None:
        """Write a worker's due outcomes on a short-lived thread (and connection) of its own.

        Writing them sends step_finished and job_completed, whose receivers are user code:
        however long they take, this thread must go on renewing the leases of running steps.
        """
        writer = self._writers.get(id(worker))
        if writer is not None and writer.is_alive():
            return
        writer = threading.Thread(
            target=self._write_and_close,
            args=(worker,),
            name=f"dbq-outcomes-{worker.worker_id}",
            daemon=True,
        )
        self._writers[id(worker)] = writer
        writer.start()

    def _write_and_close(self, worker: Worker) -> None:
        try:
            self.flush_outcomes(worker)
        except Exception:
            logger.exception("event=heartbeat_error worker=%s", worker.worker_id)
        finally:
            connections.close_all()

    def flush_outcomes(self, worker: Worker | None = None) -> None:
        """Write a worker's buffered outcomes from this thread, on this thread's connection."""
        worker = worker or self.worker
        try:
            worker.outcomes.flush()
        except (DatabaseError, InterfaceError) as error:
            logger.error("event=outcome_write_failed worker=%s error=%r", worker.worker_id, error)
            connections.close_all()

    def beat(self) -> int:
        """Extend every held lease of every worker by the lease length; returns leases renewed."""
        return sum(self.renew(worker) for worker in self.workers)

    def renew(self, worker: Worker, ids: list | None = None) -> int:
        """Extend the leases one worker holds (or ``ids`` of them); flag those it lost; returns
        leases renewed. Rows another transaction locks are retried at the next tick."""
        ids = worker.leases.held() if ids is None else ids
        if not ids:
            self._skipped.pop(id(worker), None)
            return 0
        try:
            renewal = transitions.renew(ids, worker.worker_id, worker.lease.until(timezone.now()))
        except (DatabaseError, InterfaceError) as error:
            logger.error("event=heartbeat_failed worker=%s error=%r", worker.worker_id, error)
            connections.close_all()
            # Try again within a second, not a whole interval later: two failed beats in a row
            # could otherwise let a running step's lease lapse.
            self._next_beat = min(self._next_beat, time.monotonic() + min(1.0, self.interval))
            return 0
        # A held job no longer PROCESSING under our name was cancelled (STOPPING), taken over
        # or deleted: the worker must not start another step of it.
        worker.leases.lose_held(renewal.lost)
        if renewal.skipped and id(worker) not in self._skipped:
            logger.warning(
                "event=lease_renewal_skipped worker=%s ids=%s reason=row_locked",
                worker.worker_id,
                ",".join(sorted(map(str, renewal.skipped))),
            )
        if renewal.skipped:
            self._skipped[id(worker)] = list(renewal.skipped)
        else:
            self._skipped.pop(id(worker), None)
        return len(renewal.renewed)

    def renew_skipped(self, worker: Worker) -> int:
        """Try again the leases a row lock made the last renewal skip (still held ones)."""
        skipped = [
            job_id for job_id in self._skipped.get(id(worker), ()) if job_id in worker.leases
        ]
        if not skipped:
            self._skipped.pop(id(worker), None)
            return 0
        return self.renew(worker, skipped)

    def stop(self) -> None:
        """Stop after the current tick (and any outcome write under way)."""
        if self._thread is not None:
            self._thread.stop(timeout=5)
            self._thread = None
        for writer in list(self._writers.values()):
            writer.join(timeout=5)
        for worker in self.workers:
            if worker.heartbeat is self:
                worker.heartbeat = None
