"""One step of one job: resolve the task, run hooks and task, record the outcome.

The outcome is written by one UPDATE guarded by the lease (``lease_owner`` and state), so a
worker that lost its lease can never overwrite the progress of the worker that took over.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from django.db import (
    DataError,
    Error,
    IntegrityError,
    InternalError,
    connections,
    router,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from . import outcomes, running, signals, tracing, transitions
from .exceptions import InvalidWorkspaceError, StepTimeout
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
from .registry import DJANGO_TASK_JOB, JobSpec
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
    transitions.bind(job, lease.owner)
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
        return _record_failure(job, lease, None, error, retry=False)

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
    began = time.monotonic()
    failure: BaseException | None = None
    refused_outcome = False
    try:
        with atomic():
            try:
                with time_limit(spec.timeout):
                    _run_hook(spec, "pre_task_hook", job)
                    task(job)
                transitions.check_storable(job)
                running.step_ended(job)  # its last progress report, before the outcome
            # SystemExit too: a task calling sys.exit() fails its step, not the worker.
            except (Exception, SystemExit) as error:
                failure = error
                raise _StepRaised from error  # leaves (and so rolls back) an atomic step
            _run_post_hook(spec, job)
            # A rate-limited job's every step starts through a claim, which counts it.
            chain = keep and spec.rate_limit is None
            outcome = _record_success(
                job, spec, index, lease, chain, buffer, time.monotonic() - began
            )
    except _StepRaised:
        pass
    except outcomes.NotOurs:
        # Rolled back (an atomic step's own writes too); now end a cancelled job.
        outcome = outcomes.not_ours(job, lease.owner, "writing_outcome")
    except (DataError, IntegrityError, InternalError) as refused:
        # The outcome's write (or an atomic step's commit) was refused: a value the database
        # does not store, a constraint, a transaction the task's own caught error aborted.
        # The step fails, alone, saying so; a database outage raises other errors.
        if not database.is_usable():
            raise
        failure = InvalidWorkspaceError(f"the database refused the step's outcome: {refused}")
        refused_outcome = True
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
        duration = time.monotonic() - began
        retry = job.attempts <= spec.retries
        # A failure that will be retried is routine; the last one is an error, with traceback,
        # except for a Django task: the framework's task_finished receiver logs that traceback
        # (logger.exception, for error monitoring tools), and twice is noise.
        traceback = not retry and job.name != DJANGO_TASK_JOB
        logger.log(
            logging.WARNING if retry else logging.ERROR,
            "event=step_failed job=%s id=%s step=%s/%s attempt=%s retry=%s duration=%.3f error=%r",
            job.name,
            job.pk,
            index + 1,
            len(spec.tasks),
            job.attempts,
            retry,
            duration,
            failure,
            exc_info=failure if traceback else None,
        )
        running.step_ended(job)  # its last progress report, before the outcome
        if not retry:
            run_failure_hook(spec, job, failure)
        _run_post_hook(spec, job)
        if buffer is not None:
            buffer.flush()  # the job's earlier steps first, so the failure is written last
        outcome = _record_failure(
            job, lease, spec, failure, retry=retry, keep_workspace=not refused_outcome
        )
    if not outcome.pending:
        signals.send(
            signals.step_finished,
            job=job,
            step=index,
            outcome=outcome.kind,
            duration=time.monotonic() - began,
        )
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
    except (Exception, SystemExit):  # a hook calling sys.exit() must not stop a worker
        logger.exception("event=post_task_hook_failed job=%s id=%s", job.name, job.pk)


def _record_success(
    job: Job,
    spec: JobSpec,
    index: int,
    lease: Lease,
    keep: bool,
    buffer: OutcomeBuffer | None = None,
    duration: float = 0.0,
) -> StepOutcome:
    """Decide what a succeeded step makes of the job; the writer writes it (now, or grouped)."""
    now = timezone.now()
    if index + 1 < len(spec.tasks):
        values = transitions.advanced_values(job, spec, index, lease, keep, now)
        kind = ADVANCED
    else:
        values = transitions.completed_values(job, index, now)
        kind = COMPLETED
    return outcomes.record_success(
        job,
        lease,
        values,
        kind,
        index,
        len(spec.tasks),
        atomic=spec.atomic,
        buffer=buffer,
        duration=duration,
    )


def _record_failure(
    job: Job,
    lease: Lease,
    spec: JobSpec | None,
    error: BaseException,
    retry: bool,
    keep_workspace: bool = True,
) -> StepOutcome:
    """Decide between a retry (and its delay) and the end; the writer writes it."""
    delay = backoff_seconds(spec, job.attempts) if retry and spec is not None else None
    return outcomes.record_failure(job, lease.owner, error, delay, keep_workspace)


def run_failure_hook(spec: JobSpec, job: Job, error: BaseException) -> None:
    """The failure hook runs once, after the last attempt; its own errors are logged."""
    try:
        _run_hook(spec, "failure_hook", job, error)
    except (Exception, SystemExit):  # a hook calling sys.exit() must not stop a worker
        logger.exception("event=failure_hook_failed job=%s id=%s", job.name, job.pk)


if tracing.TRACER is not None:
    # A span per step; without opentelemetry-api run_step stays unwrapped (tracing.py).
    run_step = tracing.traced(run_step)
