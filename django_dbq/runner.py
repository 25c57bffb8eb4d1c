"""Runs a worker process: its worker loops (one, or N threads) and their periodic parts.

A worker is a pool of one. Around the loops the runner installs the stop signals (the first
lets every running step finish, the second exits at once), starts the heartbeat thread and the
housekeeping thread (rescue, and the scheduler unless turned off) and stops them at the end.
One loop runs in the calling thread, so that step timeouts can use SIGALRM there; more run as
threads, each with its own database connection and worker id, sharing one --max-jobs quota.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import DatabaseError, InterfaceError, connections

from .conf import settings as conf
from .periodic import PeriodicThread
from .periodic.heartbeat import Heartbeat
from .periodic.presence import WorkerPresence
from .periodic.rescue import Rescuer
from .periodic.scheduler import Scheduler, run_scheduler_once
from .stopping import install_stop_handlers, restore_handlers

if TYPE_CHECKING:
    from .worker import Worker

logger = logging.getLogger(__name__)


class Runner:
    """Runs the given worker loops (see Worker.pool()) until a signal, --max-jobs or, in burst
    mode, an empty queue stops them."""

    def __init__(self, workers: list[Worker]):
        if not workers:
            raise ValueError("a runner needs at least one worker loop")
        self.workers = workers
        self.options = workers[0].options
        self.queue_name = self.options.queue_name
        self.alive = True
        # Set when a worker thread died of an unexpected error (a bug, not a task's error).
        self.crashed = False
        self._signals_received = 0
        # Called with the count of stop signals so far, before acting on one (the worker
        # command's console prints a line: a second signal exits the process at once).
        self.on_signal: Callable[[int], None] | None = None

    @property
    def concurrency(self) -> int:
        """How many worker loops run."""
        return len(self.workers)

    @property
    def steps_run(self) -> int:
        """Steps run by all loops together."""
        return sum(worker.steps_run for worker in self.workers)

    def run(self) -> None:
        """Run the loops and their periodic parts until stopped."""
        previous: dict = {}
        heartbeat: Heartbeat | None = None
        housekeeping: PeriodicThread | None = None
        try:
            previous = install_stop_handlers(self.shutdown)
            heartbeat = Heartbeat(*self.workers)
            # The worker row beats with the leases: it says the process is alive exactly when
            # its leases are renewed, and no hook on the housekeeping thread can delay it.
            heartbeat.start(also=[WorkerPresence(self.workers)])
            housekeeping = self._start_housekeeping()
            if self.concurrency > 1:
                logger.info(
                    "event=pool_started queue=%s threads=%s workers=%s",
                    self.queue_name,
                    self.concurrency,
                    ",".join(worker.worker_id for worker in self.workers),
                )
            if self.concurrency == 1:
                # Signals delivered while the loop waits for work end the wait at once.
                self.workers[0].wakes_on_signals = bool(previous)
                self.workers[0].run_loop()
            else:
                self._run_threads()
        finally:
            self.stop()
            if heartbeat is not None:
                heartbeat.stop()
            if housekeeping is not None:
                housekeeping.stop()
            restore_handlers(previous)
            if self.concurrency > 1:
                logger.info("event=pool_stopped queue=%s steps=%s", self.queue_name, self.steps_run)

    def stop(self) -> None:
        """Let every loop finish its running step, then stop; callable from any thread."""
        self.alive = False
        for worker in self.workers:
            worker.stop()

    def shutdown(self, signum=None, frame=None) -> None:
        """First signal: finish the running steps, then stop. Second: stop at once."""
        self._signals_received += 1
        if self.on_signal is not None:
            self.on_signal(self._signals_received)
        event = "worker" if self.concurrency == 1 else "pool"
        if self._signals_received > 1:
            logger.warning("event=%s_exit_now queue=%s", event, self.queue_name)
            os._exit(1)  # the running steps' leases expire and they are rescued
        logger.info("event=%s_stopping queue=%s signal=%s", event, self.queue_name, signum)
        self.stop()

    def _start_housekeeping(self) -> PeriodicThread:
        """The rescuer, and the scheduler unless off; a burst worker schedules once, first."""
        worker = self.workers[0]
        rescuer = Rescuer(worker.lease.seconds)
        parts: list = [rescuer]
        delays = [0.0]
        if self.options.burst:
            # Before the first claim: a burst worker stops at the first empty claim.
            delays[0] = rescuer.run_once()
        scheduler = conf.DBQ_SCHEDULER if self.options.scheduler is None else self.options.scheduler
        if scheduler and self.options.burst:
            try:
                run_scheduler_once()
            except (DatabaseError, InterfaceError) as error:
                logger.error(
                    "event=scheduler_database_error worker=%s error=%r", worker.worker_id, error
                )
        elif scheduler:
            parts.append(Scheduler(worker.worker_id))
            delays.append(Scheduler.first_delay())
        thread = PeriodicThread(f"dbq-housekeeping-{worker.worker_id}", parts, delays)
        thread.start()
        return thread

    def _run_threads(self) -> None:
        threads = [
            threading.Thread(target=self._run_worker, args=(worker,), name=f"dbq-worker-{n}")
            for n, worker in enumerate(self.workers)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)  # a short join keeps the main thread free for signals
        finally:
            self.stop()
            for thread in threads:
                thread.join()

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
