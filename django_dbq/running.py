"""What a running step tells and asks: progress reports and cancel requests.

``job.report_progress(done, total, message)`` and ``job.cancel_requested()`` are meant to be
called often from a long task's loop, so both are rate-limited here: at most one progress write
per PROGRESS_SECONDS per job (the latest report held back in between is written by a later
call, or when the step ends, so the last one is never lost), and at most one read of the job's
row per CANCEL_CHECK_SECONDS (between reads, the worker loop's lease ledger, which the
heartbeat keeps, answers).

Progress is written by a guarded transition (transitions.record_progress): a step whose job was
cancelled, deleted or taken over writes nothing. Progress belongs to the job, not to a step: it
stays until the next report overwrites it, across steps and retries (a task that wants a fresh
bar for its step reports ``0`` first).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from . import signals, transitions
from .models import Job, JobState

if TYPE_CHECKING:
    from .leases import LeaseLedger

# At most one progress write per job per this many seconds.
PROGRESS_SECONDS = 0.5
# At most one read of the job's row per this many seconds for cancel_requested().
CANCEL_CHECK_SECONDS = 0.5
MAX_MESSAGE_LENGTH = 255
# The largest value a progress column (a 64-bit signed integer) holds.
MAX_COUNT = 2**63 - 1

_STATE = "_dbq_running"


@dataclass
class _Running:
    """The rate limits' memory for one claimed job (kept on the Job object)."""

    ledger: LeaseLedger | None = None
    written_at: float | None = None  # time.monotonic() of the last progress write
    pending: tuple[int, int | None, str] | None = None  # held back by the rate limit
    lost: bool = False  # a guarded write found the job no longer ours: write nothing more
    checked_at: float | None = None  # time.monotonic() of the last cancel read
    cancelled: bool = False


def attach(job: Job, ledger: LeaseLedger | None) -> None:
    """A worker loop claimed ``job``: cancel_requested() consults its ``ledger`` too."""
    setattr(job, _STATE, _Running(ledger))


def _state(job: Job) -> _Running:
    state = getattr(job, _STATE, None)
    if state is None:
        state = _Running()
        setattr(job, _STATE, state)
    return state


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"report_progress(): {name} must be a whole number, not {value!r}")
    if not 0 <= value <= MAX_COUNT:
        raise ValueError(f"report_progress(): {name} must be from 0 to 2**63-1, not {value}")
    return value


def validate(done: Any, total: Any = None, message: Any = "") -> tuple[int, int | None, str]:
    """The arguments of report_progress(), checked; TypeError/ValueError naming the problem."""
    done = _count("done", done)
    if total is not None:
        total = _count("total", total)
        if done > total:
            raise ValueError(f"report_progress(): done ({done}) is more than total ({total})")
    if not isinstance(message, str):
        raise TypeError(f"report_progress(): message must be a string, not {message!r}")
    if len(message) > MAX_MESSAGE_LENGTH:
        raise ValueError(
            f"report_progress(): message is {len(message)} characters long; "
            f"at most {MAX_MESSAGE_LENGTH} allowed"
        )
    return done, total, message


def report_progress(job: Job, done: int, total: int | None = None, message: str = "") -> None:
    """Record how far the running step is; written now, or held back by the rate limit.

    A report held back is written by the first call after PROGRESS_SECONDS, or when the step
    ends. A report with ``done == total`` (the last one) is written at once.
    """
    report = validate(done, total, message)
    state = _state(job)
    if state.lost:
        return
    now = time.monotonic()
    last = done == total
    if not last and state.written_at is not None and now - state.written_at < PROGRESS_SECONDS:
        state.pending = report
        return
    _write(job, state, report, now)


def step_ended(job: Job) -> None:
    """Write the report the rate limit held back, before the step's outcome is written."""
    state = getattr(job, _STATE, None)
    if state is None:
        return
    if state.pending is not None and not state.lost:
        _write(job, state, state.pending, time.monotonic())
    state.pending = None
    state.written_at = None  # the next step's first report is written at once


def _write(job: Job, state: _Running, report: tuple[int, int | None, str], now: float) -> None:
    done, total, message = report
    state.pending = None
    state.written_at = now
    if not transitions.record_progress(job, done, total, message, timezone.now()):
        state.lost = True
        return
    signals.send(signals.job_progress, job=job, done=done, total=total, message=message)


def cancel_requested(job: Job) -> bool:
    """True once the running job was cancelled (or deleted, or its lease lost): stop early.

    Cheap to call in a loop: the lease ledger of the worker loop (kept by its heartbeat) is
    asked every time, the job's row at most once per CANCEL_CHECK_SECONDS.
    """
    state = _state(job)
    if state.cancelled or state.lost:
        return True
    if state.ledger is not None and state.ledger.is_lost(job.pk):
        state.cancelled = True
        return True
    now = time.monotonic()
    if state.checked_at is not None and now - state.checked_at < CANCEL_CHECK_SECONDS:
        return False
    state.checked_at = now
    owner = transitions.owner_of(job)
    if owner is None:
        # Not claimed by a worker (a test calling the task directly): the row's state says.
        row = Job.objects.filter(pk=job.pk).values_list("state", flat=True).first()
        state.cancelled = row is None or row in (JobState.STOPPING, JobState.CANCELLED)
    else:
        state.cancelled = bool(transitions.not_ours([job.pk], owner))
    return state.cancelled
