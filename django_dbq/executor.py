"""One step of one job: resolve the task, run hooks and task, record the outcome.

The outcome is written by one UPDATE guarded by the lease (``lease_owner`` and state), so a
worker that lost its lease can never overwrite the progress of the worker that took over.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import logging
import math
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import Error, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from . import signals
from .conf import settings as conf
from .exceptions import InvalidWorkspaceError, LeaseLost, StepTimeout
from .models import Job, JobState
from .outcomes import OutcomeBuffer
from .registry import MAX_OPTION_SECONDS, JobSpec
from .timeouts import time_limit

logger = logging.getLogger(__name__)

ADVANCED = "advanced"  # the step succeeded and another step follows
COMPLETED = "completed"  # the last step succeeded
RETRYING = "retrying"  # the step failed and will be retried after a backoff
FAILED = "failed"  # the step failed with no attempts left
CANCELLED = "cancelled"  # the job was cancelled while the step ran
LOST = "lease_lost"  # another worker owns the job now; nothing was written


@dataclass
class StepOutcome:
    """What became of one step."""

    kind: str
    # True when the job was kept leased by this worker so it can run the next step at once.
    kept: bool = False
    # True while the outcome waits in an OutcomeBuffer; step_finished is sent once written.
    pending: bool = False


@dataclass
class Lease:
    """Who runs the step, and for how long the job stays theirs without a heartbeat."""

    owner: str
    seconds: float

    def until(self, now: datetime.datetime) -> datetime.datetime:
        return now + datetime.timedelta(seconds=self.seconds)


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
                _check_json(job)
            # SystemExit too: a task calling sys.exit() fails its step, not the worker.
            except (Exception, SystemExit) as error:
                failure = error
                raise _StepRaised from error  # leaves (and so rolls back) an atomic step
            _run_post_hook(spec, job)
            outcome = _record_success(job, spec, index, lease, keep, buffer)
    except _StepRaised:
        pass
    except LeaseLost as lost:
        logger.warning("event=lease_lost job=%s id=%s detail=%s", job.name, job.pk, lost)
        outcome = StepOutcome(LOST)
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
            _run_failure_hook(spec, job, failure)
        _run_post_hook(spec, job)
        if buffer is not None:
            buffer.flush()  # the job's earlier steps first, so the failure is written last
        outcome = _record_failure(job, spec, failure, retry=retry)
    if not outcome.pending:
        signals.send(signals.step_finished, job=job, step=index, outcome=outcome.kind)
    return outcome


def _check_json(job: Job) -> None:
    """Fail the step, not the later write, when the task left a value JSON cannot store."""
    for name in ("workspace", "result"):
        try:
            json.dumps(getattr(job, name))
        except (TypeError, ValueError) as error:
            raise InvalidWorkspaceError(
                f"the task left job.{name} not JSON-serialisable: {error}"
            ) from None


def _storable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


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


def _guarded_update(job: Job, lease: Lease | None, **values: Any) -> int:
    """UPDATE the job only while it is PROCESSING and leased to us; returns rows changed."""
    rows = Job.objects.filter(pk=job.pk, state=JobState.PROCESSING)
    if lease is not None:
        rows = rows.filter(lease_owner=lease.owner)
    changed = rows.update(**values)
    if changed:
        for name, value in values.items():
            setattr(job, name, value)
    return changed


def _record_success(
    job: Job,
    spec: JobSpec,
    index: int,
    lease: Lease,
    keep: bool,
    buffer: OutcomeBuffer | None = None,
) -> StepOutcome:
    now = timezone.now()
    following = index + 1
    if following < len(spec.tasks):
        values: dict[str, Any] = dict(
            step=following,
            next_task=spec.tasks[following],
            workspace=job.workspace,
            result=job.result,
            attempts=1 if keep else 0,
            run_after=None,
            finished_at=None,
            unique_key=job.unique_key,
            last_error="",
            traceback="",
            modified=now,
        )
        # Every outcome names the same columns, so a group written together never mixes in a
        # value the job's next step has already set in memory.
        if keep:
            values.update(state=JobState.PROCESSING, lease_expires_at=lease.until(now))
        else:
            values.update(state=JobState.READY, lease_expires_at=None)
        outcome = StepOutcome(ADVANCED, kept=keep)
    else:
        values = dict(
            state=JobState.COMPLETED,
            step=following,
            next_task="",
            workspace=job.workspace,
            result=job.result,
            attempts=0,
            run_after=None,
            lease_expires_at=None,
            finished_at=now,
            unique_key=None,
            last_error="",
            traceback="",
            modified=now,
        )
        outcome = StepOutcome(COMPLETED)
    announce = functools.partial(_announce_success, job, len(spec.tasks), index, outcome.kind)
    # Only outcomes that keep the job ours (or end it) wait in the buffer: a READY job could
    # be claimed again by this worker before its buffered write, confusing the leases it holds.
    if buffer is not None and not spec.atomic and (keep or outcome.kind == COMPLETED):
        for name, value in values.items():
            setattr(job, name, value)
        buffer.add(job, lease, values, announce)
        return StepOutcome(outcome.kind, kept=outcome.kept, pending=True)
    if not _guarded_update(job, lease, **values):
        if _cancel_if_stopping(job, lease):
            return StepOutcome(CANCELLED)
        raise LeaseLost(f"job {job.pk} is no longer leased to {lease.owner}")
    if spec.atomic:
        # The outcome is only real once the step's transaction commits.
        transaction.on_commit(announce, using=router.db_for_write(Job))
    else:
        announce()
    return StepOutcome(outcome.kind, kept=outcome.kept, pending=True)


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
    message = f"{type(error).__module__}.{type(error).__qualname__}: {error}"
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    lease = Lease(job.lease_owner, 0) if job.lease_owner else None
    if retry and spec is not None:
        delay = backoff_seconds(spec, job.attempts)
        # The workspace is not written: the retry starts from the workspace before this step.
        changed = _guarded_update(
            job,
            lease,
            state=JobState.READY,
            run_after=now + datetime.timedelta(seconds=delay),
            lease_expires_at=None,
            last_error=message,
            traceback=trace,
            modified=now,
        )
        if changed:
            logger.info(
                "event=step_retry job=%s id=%s attempt=%s delay=%.1f",
                job.name,
                job.pk,
                job.attempts,
                delay,
            )
            return StepOutcome(RETRYING)
    else:
        changed = _guarded_update(
            job,
            lease,
            state=JobState.FAILED,
            # The workspace as the failed step and the failure hook left it, when JSON can
            # store it (the failure may be that it cannot); else as it was before the step.
            **({"workspace": job.workspace} if _storable(job.workspace) else {}),
            lease_expires_at=None,
            finished_at=now,
            unique_key=None,
            last_error=message,
            traceback=trace,
            modified=now,
        )
        if changed:
            logger.info("event=job_failed job=%s id=%s error=%s", job.name, job.pk, message)
            signals.send(signals.job_failed, job=job, error=error)
            return StepOutcome(FAILED)
    if _cancel_if_stopping(job, lease):
        return StepOutcome(CANCELLED)
    logger.warning("event=lease_lost job=%s id=%s while=recording_failure", job.name, job.pk)
    return StepOutcome(LOST)


def _run_failure_hook(spec: JobSpec, job: Job, error: BaseException) -> None:
    """The failure hook runs once, after the last attempt; its own errors are logged."""
    try:
        _run_hook(spec, "failure_hook", job, error)
    except Exception:
        logger.exception("event=failure_hook_failed job=%s id=%s", job.name, job.pk)


def _cancel_if_stopping(job: Job, lease: Lease | None) -> bool:
    """A job cancelled while its step ran ends CANCELLED; the step's result is discarded."""
    rows = Job.objects.filter(pk=job.pk, state=JobState.STOPPING)
    if lease is not None:
        rows = rows.filter(lease_owner=lease.owner)
    now = timezone.now()
    if rows.update(
        state=JobState.CANCELLED,
        lease_expires_at=None,
        finished_at=now,
        unique_key=None,
        modified=now,
    ):
        job.state = JobState.CANCELLED
        logger.info("event=job_cancelled job=%s id=%s", job.name, job.pk)
        return True
    return False


def backoff_seconds(
    spec: JobSpec, attempt: int, rand: Callable[[], float] = random.random
) -> float:
    """Delay before retry ``attempt`` + 1: exponential from the base, capped, with jitter.

    Never overflows, whatever the attempt: the doubling is compared with the cap in log space
    and the result is at most MAX_OPTION_SECONDS (the DBQ_RETRY_BACKOFF* settings are not
    validated like JOBS, so a huge or infinite one is held to that bound here too).
    """
    base = spec.retry_backoff or conf.DBQ_RETRY_BACKOFF
    cap = spec.retry_backoff_max or conf.DBQ_RETRY_BACKOFF_MAX
    # Written so that NaN falls to the bound too.
    cap = cap if 0 < cap <= MAX_OPTION_SECONDS else MAX_OPTION_SECONDS
    exponent = max(attempt - 1, 0)
    if not 0 < base < cap or exponent >= math.log2(cap) - math.log2(base):
        delay = cap
    else:
        # base * 2 ** exponent without an intermediate power of two that could overflow.
        delay = min(cap, math.ldexp(base, exponent))
    # Jitter in [50%, 100%] spreads retries of jobs that failed together.
    return delay * (0.5 + rand() / 2)
