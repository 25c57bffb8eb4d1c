"""One step of one job: resolve the task, run hooks and task, record the outcome.

The outcome is written by one UPDATE guarded by the lease (``lease_owner`` and state), so a
worker that lost its lease can never overwrite the progress of the worker that took over.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any

from django.db import Error, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from . import signals, transitions
from .exceptions import StepTimeout
from .models import Job
from .outcomes import (  # noqa: F401 - the outcome kinds are importable from here, as before
    ADVANCED,
    CANCELLED,
    COMPLETED,
    DELETED,
    FAILED,
    LOST,
    RETRYING,
    OutcomeBuffer,
    StepOutcome,
)
from .registry import JobSpec
from .timeouts import time_limit
from .transitions import Lease, backoff_seconds  # noqa: F401 - importable from here, as before

logger = logging.getLogger(__name__)


def run_step(
    job: Job, lease: Lease, keep: bool = False, buffer: OutcomeBuffer | None = None
) -> StepOutcome:
    """Run the job's next step and record its outcome; never raises for errors in user code.

    Database errors that leave the connection unusable are raised, for the worker to handle.

    With ``keep``, a succeeded step that has a successor leaves the job PROCESSING and leased
    to this worker, so the caller can run the next step without claiming it again. With a
    ``buffer``, the outcome of a succeeded non-atomic step is written later, with others.
    """
    try:
        # A job's workspace may carry its own retries and timeout (Django tasks do).
        spec = job.spec.for_workspace(job.workspace)
        index = _step_index(job, spec)
        task = spec.resolve(spec.tasks[index])
    except Exception as error:
        # Unknown job name, undeclared task or unimportable path: fail without hooks that
        # may be just as broken. Never retried: the deployment, not the data, is wrong.
        logger.error("event=step_unrunnable job=%s id=%s error=%s", job.name, job.pk, error)
        if buffer is not None:
            buffer.flush()  # the job's earlier steps first, so the failure is written last
        return _record_failure(job, None, error, retry=False)

    signals.send(signals.step_started, job=job, step=index, task=spec.tasks[index])
    logger.info(
        "event=step_started job=%s id=%s step=%s/%s task=%s attempt=%s",
        job.name,
        job.pk,
        index + 1,
        len(spec.tasks),
        spec.tasks[index],
        job.attempts,
    )
    atomic = transaction.atomic if spec.atomic else contextlib.nullcontext
    database = connections[router.db_for_write(Job)]
    database.ensure_connection()
    connection_before = database.connection
    failure: BaseException | None = None
    try:
        with atomic():
            try:
                with time_limit(spec.timeout):
                    _run_hook(spec, "pre_task_hook", job)
                    task(job)
                transitions.check_storable(job)
            # SystemExit too: a task calling sys.exit() fails its step, not the worker.
            except (Exception, SystemExit) as error:
                failure = error
                raise _StepRaised from error  # leaves (and so rolls back) an atomic step
            _run_post_hook(spec, job)
            outcome = _record_success(job, spec, index, lease, keep, buffer)
    except _StepRaised:
        pass
    except _NotOurs:
        # Rolled back (an atomic step's own writes too); now end a cancelled job.
        outcome = _not_ours(job, transitions.why_not_ours(job, lease.owner), "writing_outcome")
    if failure is not None and _connection_lost(failure, database, connection_before):
        # The database failed, not the step: record nothing and run no failure hook. The
        # worker drops its leases on database errors, so the step is rescued and runs again.
        logger.warning(
            "event=step_interrupted job=%s id=%s reason=connection_lost error=%r",
            job.name,
            job.pk,
            failure,
        )
        raise failure
    if isinstance(failure, StepTimeout) and not database.is_usable():
        # The alarm may have interrupted a query, leaving the connection busy: start afresh
        # so that the hooks and the failure are written normally.
        database.close()
    if failure is not None:
        retry = job.attempts <= spec.retries
        # A failure that will be retried is routine; the last one is an error, with traceback.
        logger.log(
            logging.WARNING if retry else logging.ERROR,
            "event=step_failed job=%s id=%s step=%s attempt=%s retry=%s error=%r",
            job.name,
            job.pk,
            index + 1,
            job.attempts,
            retry,
            failure,
            exc_info=None if retry else failure,
        )
        if not retry:
            run_failure_hook(spec, job, failure)
        _run_post_hook(spec, job)
        if buffer is not None:
            buffer.flush()  # the job's earlier steps first, so the failure is written last
        outcome = _record_failure(job, spec, failure, retry=retry)
    if not outcome.pending:
        signals.send(signals.step_finished, job=job, step=index, outcome=outcome.kind)
    return outcome


def _connection_lost(error: BaseException, database: BaseDatabaseWrapper, before: Any) -> bool:
    """Whether a step's database error came with the loss of the connection jobs are written on.

    ``before`` is the DB-API connection the step started on. When an atomic step's rollback
    fails on a dead connection, Django closes it and at once opens a new one: without this check
    the failure would be recorded on that fresh connection as if the step itself had failed.
    """
    if not isinstance(error, Error):
        return False
    return database.connection is not before or not database.is_usable()


class _StepRaised(Exception):
    """Internal: the task or pre hook raised; carries control out of the atomic block."""


def _step_index(job: Job, spec: JobSpec) -> int:
    return spec.step_index(job.step, job.next_task)


def _run_hook(spec: JobSpec, key: str, *args: Any) -> None:
    path = getattr(spec, key)
    if path:
        spec.resolve(path)(*args)


def _run_post_hook(spec: JobSpec, job: Job) -> None:
    """The post hook always runs after the step; its own errors are logged, never fatal."""
    try:
        _run_hook(spec, "post_task_hook", job)
    except Exception:
        logger.exception("event=post_task_hook_failed job=%s id=%s", job.name, job.pk)


def _record_success(
    job: Job,
    spec: JobSpec,
    index: int,
    lease: Lease,
    keep: bool,
    buffer: OutcomeBuffer | None = None,
) -> StepOutcome:
    now = timezone.now()
    if index + 1 < len(spec.tasks):
        values = transitions.advanced_values(job, spec, index, lease, keep, now)
        outcome = StepOutcome(ADVANCED, kept=keep)
    else:
        values = transitions.completed_values(job, index, now)
        outcome = StepOutcome(COMPLETED)
    announce = functools.partial(_announce_success, job, len(spec.tasks), index, outcome.kind)
    # Only outcomes that keep the job ours (or end it) wait in the buffer: a READY job could
    # be claimed again by this worker before its buffered write, confusing the leases it holds.
    if buffer is not None and not spec.atomic and (keep or outcome.kind == COMPLETED):
        for name, value in values.items():
            setattr(job, name, value)
        buffer.add(job, lease, values, announce)
        return StepOutcome(outcome.kind, kept=outcome.kept, pending=True)
    if not transitions.write(job, lease.owner, values):
        if spec.atomic:
            # Leave the atomic block: the step's own writes roll back with the discarded result.
            raise _NotOurs
        return _not_ours(job, transitions.why_not_ours(job, lease.owner), "writing_outcome")
    if spec.atomic:
        # The outcome is only real once the step's transaction commits.
        transaction.on_commit(announce, using=router.db_for_write(Job))
    else:
        announce()
    return StepOutcome(outcome.kind, kept=outcome.kept, pending=True)


class _NotOurs(Exception):
    """Internal: an atomic step's outcome found the job no longer ours; rolls the step back."""


def _not_ours(job: Job, why: str, during: str) -> StepOutcome:
    """The outcome of a step whose job is no longer this worker's: say why, write nothing."""
    if why == "cancelled":
        return StepOutcome(CANCELLED)
    if why == "deleted":
        logger.warning("event=job_deleted job=%s id=%s while=%s", job.name, job.pk, during)
        return StepOutcome(DELETED)
    logger.warning("event=lease_lost job=%s id=%s while=%s", job.name, job.pk, during)
    return StepOutcome(LOST)


def _announce_success(
    job: Job, steps: int, index: int, kind: str, instead: str | None = None
) -> None:
    """Log and signal a succeeded step once its outcome is written (``instead``: it was not)."""
    if instead is not None:
        signals.send(signals.step_finished, job=job, step=index, outcome=instead)
        return
    logger.info(
        "event=step_succeeded job=%s id=%s step=%s/%s outcome=%s",
        job.name,
        job.pk,
        index + 1,
        steps,
        kind,
    )
    if kind == COMPLETED:
        signals.send(signals.job_completed, job=job)
    signals.send(signals.step_finished, job=job, step=index, outcome=kind)


def _record_failure(
    job: Job, spec: JobSpec | None, error: BaseException, retry: bool
) -> StepOutcome:
    now = timezone.now()
    owner = job.lease_owner or None
    if retry and spec is not None:
        delay = backoff_seconds(spec, job.attempts)
        if transitions.write(job, owner, transitions.retry_values(error, delay, now)):
            logger.info(
                "event=step_retry job=%s id=%s attempt=%s delay=%.1f",
                job.name,
                job.pk,
                job.attempts,
                delay,
            )
            return StepOutcome(RETRYING)
    elif transitions.write(job, owner, transitions.failed_values(job, error, now)):
        logger.info("event=job_failed job=%s id=%s error=%s", job.name, job.pk, job.last_error)
        signals.send(signals.job_failed, job=job, error=error)
        return StepOutcome(FAILED)
    return _not_ours(job, transitions.why_not_ours(job, owner), "recording_failure")


def run_failure_hook(spec: JobSpec, job: Job, error: BaseException) -> None:
    """The failure hook runs once, after the last attempt; its own errors are logged."""
    try:
        _run_hook(spec, "failure_hook", job, error)
    except Exception:
        logger.exception("event=failure_hook_failed job=%s id=%s", job.name, job.pk)
