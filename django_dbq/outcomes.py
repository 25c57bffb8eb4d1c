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
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import DataError, IntegrityError, router, transaction
from django.utils import timezone

from . import signals, transitions
from .engine import Engine, engine_for
from .engine.base import retry_on_deadlock
from .exceptions import InvalidWorkspaceError
from .leases import LeaseLedger
from .models import Job, JobState

if TYPE_CHECKING:
    from .transitions import Lease

logger = logging.getLogger(__name__)


ADVANCED = "advanced"  # the step succeeded and another step follows
COMPLETED = "completed"  # the last step succeeded
RETRYING = "retrying"  # the step failed and will be retried after a backoff
FAILED = "failed"  # the step failed with no attempts left
CANCELLED = "cancelled"  # the job was cancelled while the step ran
LOST = "lease_lost"  # another worker owns the job now; nothing was written
DELETED = "job_deleted"  # the job's row was deleted while the step ran; nothing was written


@dataclass
class StepOutcome:
    """What became of one step."""

    kind: str
    # True when the job was kept leased by this worker so it can run the next step at once.
    kept: bool = False
    # True while the outcome waits in an OutcomeBuffer; step_finished is sent once written.
    pending: bool = False


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

    def __init__(
        self, ledger: LeaseLedger | None = None, max_pending: int = 100, max_delay: float = 0.05
    ):
        self.max_pending = max_pending
        self.max_delay = max_delay
        self._pending: dict[Any, Pending] = {}
        self._lock = threading.RLock()
        # Jobs whose outcome could not be written (cancelled, lease lost, database error) are
        # marked lost here: the worker must not run another step of them.
        self.ledger = ledger if ledger is not None else LeaseLedger()
        # Called with the ids of jobs whose outcome was written (or given up on).
        self.on_flushed: Callable[[set], None] = lambda ids: None

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
        raised for the caller to handle. A value the database refuses fails that job alone.
        """
        with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return 0
            try:
                written, refused = self._write(pending)
            except Exception:
                # Not written: the steps will be rescued and run again, so their jobs are no
                # longer this worker's to continue.
                self.ledger.lose(pending)
                self.on_flushed(set(pending))
                raise
            self.ledger.lose(set(pending) - written)
            self.on_flushed(set(pending))
        for job_id, entry in pending.items():
            instead = None
            if job_id in refused:
                instead = _refused(entry, refused[job_id])
            elif job_id not in written:
                instead = _not_written(entry)
            for callback in entry.after_write:
                callback(instead)
        return len(written)

    def _write(self, pending: dict[Any, Pending]) -> tuple[set, dict[Any, Exception]]:
        """Write the group; when the database refuses a value, each outcome alone instead.

        Returns the ids written and, for outcomes the database refused, the error.
        """
        engine = engine_for(router.db_for_write(Job))
        # Same order in every worker, so concurrent writes cannot deadlock each other.
        now = timezone.now()
        ordered = [
            (entry.job, entry.lease.owner, _fresh_lease(entry, now))
            for _, entry in sorted(pending.items(), key=lambda item: str(item[0]))
        ]
        try:
            return _write_group(engine, ordered), {}
        except (DataError, IntegrityError) as error:
            if len(ordered) == 1:
                return set(), {ordered[0][0].pk: error}
        written: set = set()
        refused: dict[Any, Exception] = {}
        for outcome in ordered:
            try:
                written |= _write_group(engine, [outcome])
            except (DataError, IntegrityError) as error:
                refused[outcome[0].pk] = error
        return written, refused


def _fresh_lease(entry: Pending, now: Any) -> dict[str, Any]:
    """A kept job's values with its lease counted from the write, not from the step's end: a
    late write must not shorten a lease the heartbeat has renewed since."""
    if entry.values.get("state") != JobState.PROCESSING:
        return entry.values
    return {**entry.values, "lease_expires_at": entry.lease.until(now)}


def _write_group(engine: Engine, outcomes: list) -> set:
    """One grouped write; in a savepoint when inside a transaction, so that a refused value
    leaves the caller's transaction usable."""
    connection = engine.connection
    # MariaDB/MySQL report deadlocks with claims as errors; the writes are idempotent
    # (absolute values, guarded), so the whole group is simply written again.
    if connection.in_atomic_block:

        def write() -> set:
            with transaction.atomic(using=connection.alias):
                return engine.write_outcomes(outcomes)

    else:

        def write() -> set:
            return engine.write_outcomes(outcomes)

    return retry_on_deadlock(write, 3, "outcome_write_retry")


def _refused(entry: Pending, error: Exception) -> str:
    """A step whose outcome the database refused fails alone, saying why."""
    job = entry.job
    failure = InvalidWorkspaceError(
        f"the database refused the step's job.workspace or job.result: {error}"
    )
    values = transitions.failed_values(job, failure, timezone.now())
    values.pop("workspace", None)  # the row keeps the workspace from before the step
    if not transitions.write(job, entry.lease.owner, values):
        return _not_written(entry)
    logger.error("event=job_failed job=%s id=%s error=%s", job.name, job.pk, job.last_error)
    signals.send(signals.job_failed, job=job, error=failure)
    return FAILED


def _not_written(entry: Pending) -> str:
    """Why a buffered outcome's guarded write matched nothing, as the outcome instead."""
    return not_ours(entry.job, entry.lease.owner, "writing_outcome").kind


# -- outcomes written at once -------------------------------------------------------------------


class NotOurs(Exception):
    """An atomic step's outcome found its job no longer this worker's: raised to leave the
    step's transaction, so that the step's own writes roll back with the discarded result."""


def record_success(
    job: Job,
    lease: Lease,
    values: dict[str, Any],
    kind: str,
    index: int,
    steps: int,
    *,
    atomic: bool,
    buffer: OutcomeBuffer | None,
    duration: float = 0.0,
) -> StepOutcome:
    """Write a succeeded step's outcome: grouped in ``buffer`` when it may wait, else now.

    Only outcomes that keep the job this worker's (or end it) wait in the buffer: a READY job
    could be claimed again by this worker before its buffered write, confusing its leases.
    Atomic steps write now, inside their transaction; their log and signals wait for its commit.
    """
    kept = values["state"] == JobState.PROCESSING
    announce = functools.partial(_announce_success, job, index, kind, duration)
    if buffer is not None and not atomic and (kept or kind == COMPLETED):
        for name, value in values.items():
            setattr(job, name, value)
        # Logged now, when the step ended, so that the log reads in the order steps ran; a
        # grouped write that then fails is logged by itself (lease_lost, outcome_write_failed).
        _log_success(job, index, steps, kind, duration, "grouped")
        buffer.add(job, lease, values, announce)
        return StepOutcome(kind, kept=kept, pending=True)
    if not (
        transitions.write(job, lease.owner, values)
        if atomic
        else _write_now(job, lease.owner, values)
    ):
        if atomic:
            raise NotOurs
        return not_ours(job, lease.owner, "writing_outcome")
    if atomic:
        transaction.on_commit(
            functools.partial(_log_success, job, index, steps, kind, duration, "committed"),
            using=router.db_for_write(Job),
        )
        transaction.on_commit(announce, using=router.db_for_write(Job))
    else:
        _log_success(job, index, steps, kind, duration, "written")
        announce()
    return StepOutcome(kind, kept=kept, pending=True)


def record_failure(
    job: Job,
    owner: str | None,
    error: BaseException,
    retry_in: float | None,
    keep_workspace: bool = True,
) -> StepOutcome:
    """Write a failed step's outcome under ``owner``'s lease: a retry in ``retry_in`` seconds,
    or (None) FAILED, with the workspace the step left unless ``keep_workspace`` is False."""
    now = timezone.now()
    if retry_in is not None:
        if _write_now(job, owner, transitions.retry_values(error, retry_in, now)):
            logger.info(
                "event=step_retry job=%s id=%s attempt=%s delay=%.1f",
                job.name,
                job.pk,
                job.attempts,
                retry_in,
            )
            return StepOutcome(RETRYING)
    elif _write_now(job, owner, _failed(job, error, now, keep_workspace)):
        logger.info("event=job_failed job=%s id=%s error=%s", job.name, job.pk, job.last_error)
        signals.send(signals.job_failed, job=job, error=error)
        return StepOutcome(FAILED)
    return not_ours(job, owner, "recording_failure")


def _failed(job: Job, error: BaseException, now: Any, keep_workspace: bool) -> dict[str, Any]:
    values = transitions.failed_values(job, error, now)
    if not keep_workspace:
        values.pop("workspace", None)  # the database refused it: keep the one from before
    return values


def _write_now(job: Job, owner: str | None, values: dict[str, Any]) -> bool:
    """One guarded write outside a step's transaction: again after a deadlock (it is
    absolute and guarded), and in a savepoint inside a caller's transaction, so that a refused
    value leaves that transaction usable."""
    connection = transaction.get_connection(router.db_for_write(Job))

    def write() -> bool:
        if connection.in_atomic_block:
            with transaction.atomic(using=connection.alias):
                return transitions.write(job, owner, values)
        return transitions.write(job, owner, values)

    return retry_on_deadlock(write, 3, "outcome_write_retry")


def not_ours(job: Job, owner: str | None, during: str) -> StepOutcome:
    """The outcome of a step whose job is no longer this worker's: a cancelled job ends now;
    a deleted or taken-over one is logged as such. Nothing else is written."""
    why = transitions.why_not_ours(job, owner)
    if why == "cancelled":
        return StepOutcome(CANCELLED)
    event = "job_deleted" if why == "deleted" else "lease_lost"
    logger.warning("event=%s job=%s id=%s while=%s", event, job.name, job.pk, during)
    return StepOutcome(DELETED if why == "deleted" else LOST)


def _log_success(job: Job, index: int, steps: int, kind: str, duration: float, write: str) -> None:
    """The step_succeeded event; ``write`` says how its outcome is written (see the reference)."""
    logger.info(
        "event=step_succeeded job=%s id=%s step=%s/%s outcome=%s duration=%.3f write=%s",
        job.name,
        job.pk,
        index + 1,
        steps,
        kind,
        duration,
        write,
    )


def _announce_success(
    job: Job, index: int, kind: str, duration: float, instead: str | None = None
) -> None:
    """Signal a succeeded step once its outcome is written (``instead``: it was not)."""
    if instead is not None:
        signals.send(signals.step_finished, job=job, step=index, outcome=instead, duration=duration)
        return
    if kind == COMPLETED:
        signals.send(signals.job_completed, job=job)
    signals.send(signals.step_finished, job=job, step=index, outcome=kind, duration=duration)
