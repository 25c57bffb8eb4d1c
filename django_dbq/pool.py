"""``worker --concurrency N``: N worker loops as threads of one process, for I/O-bound steps.

Each thread is a full Worker with its own identity (lease owner) and its own database
connection, so every promise of a worker process holds per thread: a step runs at most once at
a time, and its outcome is written under its own lease. The threads share one heartbeat (one
connection renewing all their leases), one scheduler, one --max-jobs quota and the process's
signal handling. Python runs one thread's Python code at a time, so threads help steps that
wait (HTTP calls, e-mail, other databases); CPU-bound steps want more processes instead.
"""

from __future__ import annotations

import logging
import os
import threading

from django.db import connections

from .heartbeat import Heartbeat
from .stopping import StepQuota, install_stop_handlers, restore_handlers
from .worker import Worker

logger = logging.getLogger(__name__)


class WorkerPool:
    """Runs ``concurrency`` worker threads on one queue until stopped."""

    def __init__(
        self,
        name: str = "default",
        concurrency: int = 2,
        *,
        burst: bool = False,
        max_jobs: int | None = None,
        poll_interval: float | None = None,
        batch_size: int | None = None,
        lease_seconds: float | None = None,
        scheduler: bool | None = None,
    ):
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a whole number >= 1, not {concurrency!r}")
        self.queue_name = name
        quota = StepQuota(max_jobs)
        self.workers = [
            Worker(
                name,
                burst=burst,
                max_jobs=max_jobs,
                poll_interval=poll_interval,
                batch_size=batch_size,
                lease_seconds=lease_seconds,
                # One scheduler per process is enough: the first thread's.
                scheduler=scheduler if position == 0 else False,
                quota=quota,
            )
            for position in range(concurrency)
        ]
        self.alive = True
        # Set when a worker thread died of an unexpected error (a bug, not a task's error).
        self.crashed = False
        self._signals_received = 0
        self._previous_handlers: dict = {}

    @property
    def concurrency(self) -> int:
        return len(self.workers)

    @property
    def steps_run(self) -> int:
        """Steps run by all threads together."""
        return sum(worker.steps_run for worker in self.workers)

    def run(self) -> None:
        """Run the threads until a signal, --max-jobs or (in burst mode) an empty queue."""
        self._previous_handlers = install_stop_handlers(self.shutdown)
        heartbeat = Heartbeat(*self.workers)
        heartbeat.start()
        scheduler = self.workers[0].start_scheduler()
        threads = [
            threading.Thread(target=self._run_worker, args=(worker,), name=f"dbq-worker-{position}")
            for position, worker in enumerate(self.workers)
        ]
        logger.info(
            "event=pool_started queue=%s threads=%s workers=%s",
            self.queue_name,
            self.concurrency,
            ",".join(worker.worker_id for worker in self.workers),
        )
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)  # a short join keeps the main thread free for signals
        finally:
            self.stop()
            for thread in threads:
                if thread.is_alive():
                    thread.join()
            heartbeat.stop()
            if scheduler is not None:
                scheduler.stop()
            restore_handlers(self._previous_handlers)
            logger.info("event=pool_stopped queue=%s steps=%s", self.queue_name, self.steps_run)

    def stop(self) -> None:
        """Let every thread finish its running step, then stop; callable from any thread."""
        self.alive = False
        for worker in self.workers:
            worker.stop()

    def shutdown(self, signum=None, frame=None) -> None:
        """First signal: finish the running steps, then stop. Second: stop at once."""
        self._signals_received += 1
        if self._signals_received > 1:
            logger.warning("event=pool_exit_now queue=%s", self.queue_name)
            os._exit(1)  # the running steps' leases expire and they are rescued
        logger.info("event=pool_stopping queue=%s signal=%s", self.queue_name, signum)
        self.stop()

    def _run_worker(self, worker: Worker) -> None:
        try:
            worker.run_loop()
        except BaseException:
            # run_loop survives database and task errors; anything else is a bug. Stop the
            # whole pool so that a supervisor restarts the process, rather than run on with
            # fewer threads than asked for.
            logger.exception("event=worker_thread_crashed worker=%s", worker.worker_id)
            self.crashed = True
            self.stop()
        finally:
            connections.close_all()
