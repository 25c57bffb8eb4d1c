"""Every change of a claimed job's row, named once.

A claimed job is PROCESSING and leased to one owner (a worker loop, a test helper). Each change
below is one UPDATE guarded by that lease (state and ``lease_owner``), so an owner that lost its
lease (cancelled, rescued after its lease expired, deleted) can never overwrite the progress of
whoever holds the job now. The values a state is written with live here only:

    claimed ──advance──> READY (or still PROCESSING, kept for the next step)
            ──complete─> COMPLETED
            ──retry────> READY with run_after (backoff)
            ──fail─────> FAILED
            ──release──> NEW / READY (the step never started, or its queue was paused)
            ──progress─> still PROCESSING, with the step's progress report
    STOPPING ─cancel───> CANCELLED (cancelled while the step ran)
    expired ──rescue───> READY, or FAILED after DBQ_MAX_RESCUES (``give up``)

The claim itself is the engine's (claim/), which writes ``claimed_values()``.
"""

from __future__ import annotations

import datetime
import logging
import math
import random
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import router
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from .conf import settings as conf
from .engine import engine_for
from .engine.base import Renewal
from .exceptions import InvalidWorkspaceError, LeaseLost
from .jsonvalues import storable_problem
from .models import Job, JobState, leased_states
from .registry import MAX_OPTION_SECONDS, JobSpec

logger = logging.getLogger(__name__)

# Columns of a running job that only its owner's transitions write: a task's job.save() writing
# them back from its stale copy could undo a cancel or shorten the lease the heartbeat renewed.
WORKER_FIELDS = frozenset(
    {"state", "lease_owner", "lease_expires_at", "attempts", "rescues", "step", "next_task"}
    | {"started_at", "finished_at", "last_error", "traceback", "unique_key"}
    # Written by report_progress() alone (rate-limited, see running.py).
    | {"progress_done", "progress_total", "progress_message", "progress_at"}
)


@dataclass(frozen=True)
class Lease:
    """Who runs the step, and for how long the job stays theirs without a heartbeat."""

    owner: str
    seconds: float

    def until(self, now: datetime.datetime) -> datetime.datetime:
        """When a lease taken or renewed at ``now`` expires."""
        return now + datetime.timedelta(seconds=self.seconds)


# -- whose lease ---------------------------------------------------------------------------

# Attribute a claimed Job carries: the owner of the lease it was claimed under. Guards use it,
# never job.lease_owner, which a task can change in memory (refresh_from_db() after its lease
# was taken over would make a guard match the new owner's lease).
_OWNER = "_dbq_lease_owner"


def bind(job: Job, owner: str) -> None:
    """Record that ``job`` runs under ``owner``'s lease (the claim's owner)."""
    setattr(job, _OWNER, owner)


def owner_of(job: Job) -> str | None:
    """The owner whose lease a running job's writes are guarded by (see bind())."""
    return getattr(job, _OWNER, None) or job.lease_owner or None


# -- the values of each state -----------------------------------------------------------------


def claimed_values(owner: str, now: datetime.datetime, until: datetime.datetime) -> dict:
    """What a claim writes (as expressions: attempts and started_at depend on the row)."""
    return dict(
        state=JobState.PROCESSING,
        lease_owner=owner,
        lease_expires_at=until,
        attempts=F("attempts") + 1,
        modified=now,
        started_at=Coalesce("started_at", Value(now)),
    )


def advanced_values(
    job: Job, spec: JobSpec, index: int, lease: Lease, keep: bool, now: datetime.datetime
) -> dict[str, Any]:
    """A succeeded step that has a successor: READY, or kept PROCESSING for the next step.

    Every success names the same columns, so a group written together never mixes in a value
    the job's next step has already set in memory.
    """
    following = index + 1
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
    if keep:
        values.update(state=JobState.PROCESSING, lease_expires_at=lease.until(now))
    else:
        values.update(state=JobState.READY, lease_expires_at=None)
    return values


def completed_values(job: Job, index: int, now: datetime.datetime) -> dict[str, Any]:
    """The last step succeeded."""
    return dict(
        state=JobState.COMPLETED,
        step=index + 1,
        next_task="",
        workspace=job.workspace,
        result=job.result,
        # Kept: how many attempts the last step took, as a FAILED job keeps its last step's.
        attempts=job.attempts,
        run_after=None,
        lease_expires_at=None,
        finished_at=now,
        unique_key=None,
        last_error="",
        traceback="",
        modified=now,
    )


def retry_values(error: BaseException, delay: float, now: datetime.datetime) -> dict[str, Any]:
    """A failed attempt with attempts left; the workspace is not written (see README)."""
    return dict(
        state=JobState.READY,
        run_after=now + datetime.timedelta(seconds=delay),
        lease_expires_at=None,
        last_error=error_message(error),
        traceback=error_trace(error),
        modified=now,
    )


def failed_values(job: Job, error: BaseException, now: datetime.datetime) -> dict[str, Any]:
    """The last attempt failed: the job ends FAILED with its error and traceback."""
    values: dict[str, Any] = dict(
        state=JobState.FAILED,
        lease_expires_at=None,
        finished_at=now,
        unique_key=None,
        last_error=error_message(error),
        traceback=error_trace(error),
        modified=now,
    )
    # The workspace as the failed step and the failure hook left it, when it can be stored (the
    # failure may be that it cannot); else the row keeps the workspace from before the step.
    if storable_problem(job.workspace) is None:
        values["workspace"] = job.workspace
    return values


def cancelled_values(now: datetime.datetime) -> dict[str, Any]:
    """A cancelled job: finished, and its unique key freed."""
    return dict(
        state=JobState.CANCELLED,
        lease_expires_at=None,
        finished_at=now,
        unique_key=None,
        modified=now,
    )


def error_message(error: BaseException) -> str:
    """``module.Class: message``, as last_error keeps it."""
    return f"{type(error).__module__}.{type(error).__qualname__}: {error}"


def error_trace(error: BaseException) -> str:
    """The formatted traceback of ``error``."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def check_storable(job: Job) -> None:
    """Fail the step, not the later write, when the task left a value the database refuses."""
    for name in ("workspace", "result"):
        problem = storable_problem(getattr(job, name))
        if problem is not None:
            raise InvalidWorkspaceError(
                f"the task left job.{name} not JSON-serialisable as the database stores it: "
                f"{problem} "
                "(allowed: JSON objects, arrays, strings, finite numbers, true/false/null)"
            )


# -- the guarded statements ---------------------------------------------------------------------


def leased_rows(job: Job, owner: str | None) -> Any:
    """The job's row while it is PROCESSING under ``owner`` (any owner when None)."""
    rows = Job.objects.filter(pk=job.pk, state=JobState.PROCESSING)
    return rows if owner is None else rows.filter(lease_owner=owner)


def write(job: Job, owner: str | None, values: dict[str, Any]) -> bool:
    """Write ``values`` while the job is still ours; set them on ``job`` too. One statement."""
    if not leased_rows(job, owner).update(**values):
        return False
    for name, value in values.items():
        setattr(job, name, value)
    return True


def record_progress(
    job: Job, done: int, total: int | None, message: str, now: datetime.datetime
) -> bool:
    """A running step's progress report (running.py rate-limits it); False when the job is no
    longer ours, and then nothing is written. ``modified`` is left alone: it tells outcome
    writes apart (engine/mysql.py), and progress is no change of the job's state."""
    values = dict(
        progress_done=done, progress_total=total, progress_message=message, progress_at=now
    )
    return write(job, owner_of(job), values)


def cancel_if_stopping(job: Job, owner: str | None) -> bool:
    """A job cancelled while its step ran ends CANCELLED; the step's result is discarded."""
    rows = Job.objects.filter(pk=job.pk, state=JobState.STOPPING)
    if owner is not None:
        rows = rows.filter(lease_owner=owner)
    if not rows.update(**cancelled_values(timezone.now())):
        return False
    job.state = JobState.CANCELLED
    logger.info("event=job_cancelled job=%s id=%s", job.name, job.pk)
    return True


def why_not_ours(job: Job, owner: str | None) -> str:
    """After a guarded write matched nothing: 'cancelled' (and ended), 'deleted' or 'lost'."""
    if cancel_if_stopping(job, owner):
        return "cancelled"
    if not Job.objects.filter(pk=job.pk).exists():
        return "deleted"
    return "lost"


def not_ours(ids: list[Any], owner: str) -> set:
    """Which of ``ids`` are no longer PROCESSING under ``owner`` (cancelled, taken over or
    deleted): a plain read, which never waits on a lock."""
    return set(ids) - engine_for(router.db_for_write(Job)).held(ids, owner)


def claim_job(job: Job, lease: Lease) -> bool:
    """Claim one waiting job by id, whatever its run_after (test helpers); True when claimed."""
    now = timezone.now()
    rows = Job.objects.filter(pk=job.pk, state__in=(JobState.NEW, JobState.READY))
    if not rows.update(**claimed_values(lease.owner, now, lease.until(now))):
        return False
    job.refresh_from_db()
    return True


def release(ids: list[Any], owner: str) -> tuple[int, int]:
    """Hand claimed jobs whose step never started back; returns (released, cancelled).

    The claim's attempt is taken back; a job cancelled meanwhile ends now.
    """
    if not ids:
        return 0, 0
    now = timezone.now()
    released = Job.objects.filter(pk__in=ids, lease_owner=owner, state=JobState.PROCESSING).update(
        state=Case(
            When(step=0, attempts=1, then=Value(JobState.NEW)), default=Value(JobState.READY)
        ),
        attempts=F("attempts") - 1,
        lease_expires_at=None,
        modified=now,
    )
    cancelled = Job.objects.filter(pk__in=ids, lease_owner=owner, state=JobState.STOPPING).update(
        **cancelled_values(now)
    )
    return released, cancelled


def save_data(job: Job, *, using: str | None = None, update_fields: Any = None, **_: Any) -> None:
    """A task's job.save() of its running job: data columns only, under the lease.

    Raises LeaseLost when the job was cancelled, deleted or taken over (nothing is saved), and
    ValueError for update_fields naming the worker's columns (WORKER_FIELDS).
    """
    names = None if update_fields is None else set(update_fields)
    refused = (names or set()) & WORKER_FIELDS
    if refused:
        raise ValueError(
            f"a running job's {', '.join(sorted(refused))} belong to its worker and cannot "
            "be saved from a task; change job.workspace (or run_after, priority)"
        )
    model = type(job)
    fields = [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key
        and field.name not in WORKER_FIELDS
        and (names is None or field.name in names or field.attname in names)
    ]
    using = using or router.db_for_write(model, instance=job)
    pre_save.send(model, instance=job, raw=False, using=using, update_fields=names)
    values = {field.attname: field.pre_save(job, False) for field in fields}
    if "workspace" in values:
        problem = storable_problem(values["workspace"])
        if problem is not None:
            raise InvalidWorkspaceError(f"job.workspace cannot be stored: {problem}")
    owner = owner_of(job)
    saved = (
        model._base_manager.using(using)
        .filter(pk=job.pk, state=JobState.PROCESSING, lease_owner=owner)
        .update(**values)
    )
    if not saved:
        raise LeaseLost(
            f"job {job.pk} is no longer running under lease {owner!r} "
            "(cancelled, deleted, or taken over after the lease expired): not saved"
        )
    post_save.send(model, instance=job, created=False, raw=False, using=using, update_fields=names)


# -- leases: renewal and rescue (never waiting on a row another transaction locks) ---------------


def renew(ids: Iterable[Any], owner: str, until: datetime.datetime) -> Renewal:
    """Extend the leases ``owner`` holds on ``ids``; see Renewal for what comes back.

    A row another transaction has locked (an atomic step that saved its job, an operator's
    long transaction) is skipped, not waited for, and reported as skipped: waiting would hold up
    every other lease until that transaction ends, and those leases would lapse.
    """
    return engine_for(router.db_for_write(Job)).renew(list(ids), owner, until)


def rescue_expired(now: datetime.datetime | None = None) -> tuple[int, int, list[Job]]:
    """Return steps whose lease expired to the queue; returns (requeued, cancelled, given up).

    A lease expires only when its worker stopped renewing it: killed, frozen or cut off. Such a
    step may have run partly, so it runs again (at least once). After DBQ_MAX_RESCUES rescues
    the job is FAILED instead, so a step that kills its worker cannot loop forever; the caller
    runs the failure hooks of the jobs given up on. A STOPPING job (cancelled while its step
    ran) ends CANCELLED. Rows another transaction locks are skipped until a later rescue.
    """
    now = now or timezone.now()
    # leased_states() repeats the condition of the partial index dbq_job_lease_idx.
    expired = leased_states() & (Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True))
    limit = conf.DBQ_MAX_RESCUES
    return engine_for(router.db_for_write(Job)).rescue(
        expired,
        now,
        limit,
        requeue=dict(
            state=JobState.READY,
            lease_expires_at=None,
            rescues=F("rescues") + 1,
            last_error=RESCUE_MESSAGE,
            modified=now,
        ),
        give_up=dict(
            state=JobState.FAILED,
            lease_expires_at=None,
            finished_at=now,
            unique_key=None,
            last_error=f"{RESCUE_MESSAGE}; gave up after {limit} rescues",
            modified=now,
        ),
        cancel=cancelled_values(now),
    )


RESCUE_MESSAGE = "django_dbq.LeaseExpired: the worker running this step stopped (lease expired)"


# -- retry policy --------------------------------------------------------------------------------


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
