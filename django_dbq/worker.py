"""The worker loop: claim, run steps, hand their outcomes to the writer, wait for work."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import DatabaseError, InterfaceError, connections, router
from django.utils import timezone

from . import instruments, running, transitions
from .compat import LegacyWorkerMixin
from .conf import settings as conf
from .engine import engine_for
from .engine.base import database_retry_delay
from .executor import run_step
from .leases import LeaseLedger
from .models import Job
from .notify import Waker, WakeupPipe, waker_for
from .options import WorkerOptions
from .outcomes import OutcomeBuffer
from .pauses import PauseWatch
from .periodic.heartbeat import Heartbeat
from .registry import get_registry
from .runner import Runner
from .stopping import StepQuota
from .transitions import Lease

logger = logging.getLogger(__name__)

# A step slower than this makes the worker hand back the jobs it claimed in advance, so other
# workers can run them, and claim one at a time until steps are fast again.
SLOW_STEP_SECONDS = 0.2
# A claimed job whose step has not started is looked at again (one SELECT for what is left of
# the batch) when the worker last saw it longer ago than this, or at once when PostgreSQL sent
# a cancel notice, so a cancel that committed meanwhile wins. Looking before every step would
# cost a round trip per step (DBQ_RECHECK_BEFORE_STEP does, for a cancel that always wins).
RECHECK_SECONDS = 0.01


def default_worker_id() -> str:
    """host:pid:random, unique per worker process (and per thread inside one)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker(LegacyWorkerMixin):
    """Runs the jobs of one queue, step by step, until stopped."""

    def __init__(
        self,
        name: str = "default",
        rate_limit_in_seconds: float = 0,
        *,
        options: WorkerOptions | None = None,
        worker_id: str | None = None,
        quota: StepQuota | None = None,
        **settings: Any,
    ):
        """A loop for ``options`` (or for the queue ``name`` and WorkerOptions ``settings``).

        ``quota`` is shared by the loops of one process, so that --max-jobs counts them all.
        """
        if options is None:
            options = WorkerOptions(name, rate_limit_in_seconds, **settings)
        self.options = options
        self.queue_name = options.queue_name
        self.rate_limit_in_seconds = options.rate_limit
        self.burst = options.burst
        self.max_jobs = options.max_jobs
        self.quota = quota or StepQuota(options.max_jobs)
        self.poll_interval = (
            conf.DBQ_POLL_INTERVAL if options.poll_interval is None else options.poll_interval
        )
        self.max_batch_size = options.batch_size or conf.DBQ_CLAIM_BATCH_SIZE
        self.batch_size = 1
        self.lease = Lease(
            worker_id or default_worker_id(), options.lease_seconds or conf.DBQ_LEASE_SECONDS
        )
        self.alive = True
        self.steps_run = 0
        self.current_job: Job | None = None
        self._last_step_ended: float | None = None  # time.monotonic(), for the rate limit
        # Jobs whose lease this worker holds (the heartbeat renews exactly these), and those
        # of them it lost (cancelled, taken over, deleted, outcome not written).
        self.leases = LeaseLedger()
        # The queue's pauses, for jobs already claimed (the claim itself skips paused jobs).
        self.pauses = PauseWatch(self.queue_name)
        # The running heartbeat serving this worker, if any (set by Heartbeat.start()).
        self.heartbeat: Heartbeat | None = None
        # Succeeded steps' outcomes, written in groups (see outcomes.py).
        self.outcomes = OutcomeBuffer(self.leases, max_delay=conf.DBQ_OUTCOME_DELAY)
        self.outcomes.on_flushed = self._forget_leases
        # Whether a signal ends an idle wait at once (set by the runner of the main thread).
        self.wakes_on_signals = False
        self._signals_received = 0
        self._gave_back_prefetch = False
        # Claimed jobs whose step never started when a database error cut a batch short.
        self._unstarted: list[Job] = []
        # The job whose step this loop started last (to tell started from unstarted ones).
        self._started_job: Job | None = None
        self._alias = router.db_for_write(Job)
        self._engine = None
        self._waker = None
        self._recheck_every_step = conf.DBQ_RECHECK_BEFORE_STEP
        # Lets stop() end an idle wait from another thread (a pool's main thread).
        self._wakeup: WakeupPipe | None = None

    @classmethod
    def pool(cls, options: WorkerOptions) -> list[Worker]:
        """The ``options.concurrency`` loops of one worker process, sharing one quota."""
        quota = StepQuota(options.max_jobs)
        return [cls(options=options, quota=quota) for _ in range(options.concurrency)]

    @property
    def worker_id(self) -> str:
        """This worker's identity, written to the rows it leases."""
        return self.lease.owner

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> None:
        """Process jobs until a signal, --max-jobs or (in burst mode) an empty queue stops it."""
        Runner([self]).run()

    def run_loop(self) -> None:
        """The loop alone: the caller (a Runner) runs the heartbeat, housekeeping, signals."""
        if self._wakeup is None:
            self._wakeup = WakeupPipe()
        logger.info("event=worker_started worker=%s queue=%s", self.worker_id, self.queue_name)
        failures = 0
        try:
            while self.alive and not self._quota_reached():
                try:
                    ran = self.run_batch()
                    failures = 0
                except (DatabaseError, InterfaceError) as error:
                    failures += 1
                    self._on_database_error(error, failures)
                    continue
                if not ran:
                    if self.burst and not self._waiting_for_room():
                        break
                    self._wait_for_work()
        finally:
            self._flush_outcomes_quietly()
            if self._waker:
                self._waker.close()
                self._waker = None
            self._wakeup.close()
            self._wakeup = None
            logger.info(
                "event=worker_stopped worker=%s queue=%s steps=%s",
                self.worker_id,
                self.queue_name,
                self.steps_run,
            )

    def shutdown(self, signum=None, frame=None) -> None:
        """First signal: finish the running step, then stop. Second: stop at once."""
        self._signals_received += 1
        self.alive = False
        if self._signals_received > 1:
            logger.warning("event=worker_exit_now worker=%s", self.worker_id)
            os._exit(1)  # the running step's lease expires and it is rescued
        logger.info("event=worker_stopping worker=%s signal=%s", self.worker_id, signum)

    def stop(self) -> None:
        """Finish the running step, then stop; callable from any thread."""
        self.alive = False
        wakeup = self._wakeup
        if wakeup is not None:
            wakeup.wake()

    # -- one round ---------------------------------------------------------------------------

    def run_batch(self) -> int:
        """Claim a batch of runnable jobs and run them; returns how many steps ran."""
        if self._unstarted:
            self.release(self._unstarted)
            self._unstarted = []
        self._respect_rate_limit()
        jobs = self._claim(self._batch_limit())
        if not jobs:
            return 0
        ran = 0
        looked = time.monotonic()  # when this worker last saw the batch's rows (the claim)
        for position, job in enumerate(jobs):
            try:
                if not self.alive or self._quota_reached() or (ran and self._gave_back_prefetch):
                    self.release(jobs[position:])
                    break
                if self._should_look_again(looked, just_claimed=position == 0):
                    # A cancel may have committed while this job waited behind the others.
                    self._look_again(jobs[position:])
                    looked = time.monotonic()
                if self.leases.is_lost(job.pk):
                    # Cancelled (or taken over) while it waited in this batch: do not start
                    # it. release() ends a cancelled job now.
                    self.release([job])
                    self.leases.done(job.pk)
                    continue
                if position and self.pauses.stops(job.name):
                    # Paused while it waited in this batch (the claim just proved the first
                    # was not): back to the queue, unstarted.
                    self.release([job])
                    self.leases.done(job.pk)
                    continue
                ran += self._run_job(job, looked=looked)
            except (DatabaseError, InterfaceError):
                # Hand the jobs that never started back once the database answers again,
                # rather than leaving them to a rescue that would count an attempt.
                started = job is self._started_job
                self._unstarted = jobs[position + 1 :] if started else jobs[position:]
                raise
        self.outcomes.flush()
        self._adapt_batch_size(len(jobs))
        return ran

    def _process_job(self) -> None:
        """django-db-queue 3.x: run at most one step of one runnable job.

        Called outside run(), no heartbeat renews the step's lease, so one runs for the step:
        a step longer than the lease must not be rescued (and run again) while it runs.
        """
        jobs = self._claim(1)
        if not jobs:
            return
        heartbeat = Heartbeat(self) if self.heartbeat is None else None
        if heartbeat is not None:
            heartbeat.start()
        try:
            self._run_job(jobs[0], chain=False)
        finally:
            if heartbeat is not None:
                heartbeat.stop()

    def _run_job(self, job: Job, chain: bool = True, looked: float | None = None) -> int:
        """Run a claimed job's steps while this worker may keep it; returns steps run.

        ``looked``: when the worker last saw the job's row (its claim, or a re-check).
        """
        steps = 0
        self.current_job = self._started_job = job
        looked = time.monotonic() if looked is None else looked
        self._gave_back_prefetch = False
        try:
            while True:
                if not self.quota.take():  # another thread of the pool ran the last step
                    self.release([job])
                    return steps
                keep = (
                    chain
                    and self.alive
                    and self.rate_limit_in_seconds == 0
                    and not self._quota_reached()
                )
                started = time.monotonic()
                outcome = run_step(
                    job, self.lease, keep=keep, buffer=self.outcomes if chain else None
                )
                elapsed = time.monotonic() - started
                steps += 1
                self.steps_run += 1
                self._last_step_ended = time.monotonic()
                if elapsed > SLOW_STEP_SECONDS:
                    self._gave_back_prefetch = True
                if self.outcomes.due():
                    self.outcomes.flush()
                if not outcome.kept:
                    return steps
                if self._should_look_again(looked):
                    # A cancel may have committed since the worker last saw the row: look
                    # before the next step.
                    self._look_again([job])
                    looked = time.monotonic()
                if self.leases.is_lost(job.pk):
                    # Cancelled, taken over, or an outcome of it not written: run nothing more
                    # of it. Hand it back if it is still ours (its last outcome written), so
                    # that it does not wait a whole lease for a rescue; a cancelled job ends.
                    logger.info("event=chain_stopped job=%s id=%s", job.name, job.pk)
                    self.release([job])
                    return steps
                if not self.alive or self._quota_reached():
                    self.release([job])
                    return steps
                if self.pauses.stops(job.name):
                    # Its queue (or name) was paused: the next step waits, READY, for resume.
                    logger.info("event=chain_paused job=%s id=%s", job.name, job.pk)
                    self.release([job])
                    return steps
        finally:
            self.current_job = None
            # Its lease stays held while its last outcome waits to be written.
            self.leases.done(job.pk, keep=job.pk in self.outcomes)

    def _should_look_again(self, looked: float, just_claimed: bool = False) -> bool:
        """Whether to read the state of claimed, unstarted jobs before the next step starts:
        a cancel notice arrived, or the rows were last seen too long ago (``looked``)."""
        if self._recheck_every_step:
            return not just_claimed  # the claim itself was the look
        # First: reading the notices consumes them, and a re-check sees what they announce.
        return (
            self._waker_instance().cancels_arrived() or time.monotonic() - looked > RECHECK_SECONDS
        )

    def _look_again(self, jobs: list[Job]) -> None:
        """Read whether claimed jobs whose step has not started are still ours; mark the others
        lost. Before every step (DBQ_RECHECK_BEFORE_STEP) only the next job is read."""
        ids = [jobs[0].pk] if self._recheck_every_step else [job.pk for job in jobs]
        if self._engine is None:
            self._engine = engine_for(self._alias)
        self.leases.lose(set(ids) - self._engine.held(ids, self.worker_id))

    def _claim(self, limit: int) -> list[Job]:
        if self._engine is None:
            self._engine = engine_for(self._alias)
        # Before the claim: a cancel committed after it must reach this worker (PostgreSQL).
        self._waker_instance().listen()
        now = timezone.now()
        observe = instruments.on_claim  # None unless metrics are on
        started = time.perf_counter() if observe is not None else 0.0
        until = self.lease.until(now)
        limited = get_registry().limited
        if not limited:  # no flow control declared: the claim is the plain one
            jobs = self._engine.claim(self.queue_name, self.worker_id, limit, now, until)
        else:
            # Jobs with a limit first (within their keys' room), then jobs without one.
            jobs = self._engine.claim_keyed(
                self.queue_name, self.worker_id, limit, now, until, limited
            )
            if len(jobs) < limit:
                jobs += self._engine.claim(
                    self.queue_name, self.worker_id, limit - len(jobs), now, until, unkeyed=True
                )
                jobs = self._engine.in_claim_order(jobs)
        if observe is not None:
            observe(self.queue_name, time.perf_counter() - started)
        self.leases.claimed(job.pk for job in jobs)
        if jobs:
            self.pauses.claimed()
        for job in jobs:
            running.attach(job, self.leases)
        return jobs

    def _forget_leases(self, ids: set) -> None:
        """Stop renewing leases of jobs that are neither running nor waiting for their write."""
        running = self.current_job.pk if self.current_job is not None else None
        self.leases.forget(ids, keep=lambda job_id: job_id == running or job_id in self.outcomes)

    def _flush_outcomes_quietly(self) -> None:
        try:
            self.outcomes.flush()
        except (DatabaseError, InterfaceError) as error:
            logger.error("event=outcome_write_failed worker=%s error=%r", self.worker_id, error)

    def release(self, jobs: Iterable[Job]) -> int:
        """Hand claimed jobs whose step has not started back to the queue."""
        ids = [job.pk for job in jobs]
        if not ids:
            return 0
        self.outcomes.flush()  # a kept job's last outcome must be written before it is released
        # A job cancelled while it waited in this worker's batch ends now, not at lease expiry.
        released, _ = transitions.release(ids, self.worker_id)
        self.leases.forget(ids)
        if released:
            logger.info("event=jobs_released worker=%s count=%s", self.worker_id, released)
        return released

    def _batch_limit(self) -> int:
        remaining = self.quota.remaining()
        if remaining is not None:
            return max(1, min(self.batch_size, remaining))
        return self.batch_size

    def _adapt_batch_size(self, claimed: int) -> None:
        """Grow the batch while steps are fast; fall back to one job after a slow step."""
        if getattr(self, "_gave_back_prefetch", False):
            self.batch_size = 1
        elif claimed >= self.batch_size:
            self.batch_size = min(self.max_batch_size, self.batch_size * 2)

    def _quota_reached(self, ahead: int = 0) -> bool:
        return self.quota.reached(ahead)

    # -- waiting, housekeeping, errors ----------------------------------------------------------

    def _respect_rate_limit(self) -> None:
        if self.rate_limit_in_seconds and self._last_step_ended is not None:
            deadline = self._last_step_ended + self.rate_limit_in_seconds
            # A wake-up (a notification) may end a wait early: wait again until the deadline.
            while self.alive and (remaining := deadline - time.monotonic()) > 0:
                self._waker_instance().wait(remaining)

    def _waiting_for_room(self) -> bool:
        """Whether runnable jobs of this queue wait for room under a concurrency or rate limit
        (a burst worker waits for them rather than stopping)."""
        if not get_registry().limited:
            return False
        runnable = Job.objects.using(self._alias).runnable(self.queue_name)
        return runnable.filter(concurrency_key__isnull=False).exists()

    def _wait_for_work(self) -> None:
        self.outcomes.flush()
        self._waker_instance().wait(self.poll_interval)

    def _waker_instance(self):
        if self._waker is None:
            self._waker = waker_for(self._alias, self.queue_name, self._wakeup)
            if self.wakes_on_signals:
                self._waker.wake_on_signals()
        return self._waker

    def _on_database_error(self, error: Exception, failures: int) -> None:
        """Drop the broken connection and retry with capped exponential backoff."""
        delay = database_retry_delay(failures)
        logger.error(
            "event=database_error worker=%s attempt=%s retry_in=%.2f error=%r",
            self.worker_id,
            failures,
            delay,
            error,
        )
        # Steps in flight are left to their leases: the heartbeat stops renewing them and
        # they are rescued, because their outcome may not have been written.
        self.leases.clear()
        connections[self._alias].close()
        self._engine = None
        if self._waker is not None:
            self._waker.close()
            self._waker = None
        if self.alive:
            # Not the database-backed waker: the database is what just failed.
            sleeper = Waker(self._alias, self._wakeup)
            if self.wakes_on_signals:
                sleeper.wake_on_signals()  # a SIGTERM during an outage stops at once
            try:
                sleeper.wait(delay)
            finally:
                sleeper.close()
