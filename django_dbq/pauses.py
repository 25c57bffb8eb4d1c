"""Paused queues: one row per paused queue (or one job name in it), obeyed by every worker.

The claim of every vendor (engine/) skips the jobs a row here covers, so no worker starts a new
job of a paused queue, whatever its host, within one poll of the pause; resuming deletes the
row and, on PostgreSQL, wakes the queue's idle workers at once (notify.py). Steps already
running finish; a job whose next step would run in the same claim (a chain) is handed back
READY instead (see PauseWatch), and starts again when the queue is resumed.

A row with ``job_name=""`` pauses the whole queue; a row with a job name pauses that job's
jobs in the queue only.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import IntegrityError, models, router, transaction
from django.utils import timezone

from .exceptions import DbqError
from .notify import wake_queue

logger = logging.getLogger(__name__)

# A worker loop looks at its queue's pauses at most this often while it runs jobs it already
# claimed (a batch, a chain of steps): a pause stops those within about this long.
WATCH_SECONDS = 1.0
MAX_NAME_LENGTH = 100


class PauseError(DbqError, ValueError):
    """A pause or resume was refused: an invalid name, or the queue is not paused."""


class QueuePause(models.Model):
    """A paused queue, or one job name paused in a queue (``job_name`` non-empty)."""

    # Both compared with the job's own columns by the claim: byte for byte on MariaDB/MySQL
    # too (migration 0016 gives them the binary collation Job's columns have there).
    queue_name = models.CharField(max_length=MAX_NAME_LENGTH)
    job_name = models.CharField(max_length=MAX_NAME_LENGTH, blank=True, default="")
    paused_at = models.DateTimeField(default=timezone.now)
    paused_by = models.CharField(max_length=150, blank=True, default="")
    reason = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["queue_name", "job_name"]
        verbose_name = "paused queue"
        verbose_name_plural = "paused queues"
        # Also the index the claim's NOT EXISTS probes.
        constraints = [
            models.UniqueConstraint(fields=["queue_name", "job_name"], name="dbq_pause_unique")
        ]

    def __str__(self) -> str:
        return describe(self.queue_name, self.job_name)


def describe(queue_name: str, job_name: str = "") -> str:
    """'queue emails' or 'job send_mail in queue emails'."""
    return f"job {job_name} in queue {queue_name}" if job_name else f"queue {queue_name}"


def validate(queue_name: Any, job_name: Any = "") -> tuple[str, str]:
    """The names of a pause, checked; PauseError naming what is wrong."""
    job_name = job_name or ""
    for label, value, required in (("queue name", queue_name, True), ("job name", job_name, False)):
        if not isinstance(value, str):
            raise PauseError(f"the {label} must be a string, not {value!r}")
        if required and not value.strip():
            raise PauseError(f"the {label} must not be empty")
        if len(value) > MAX_NAME_LENGTH:
            raise PauseError(
                f"the {label} is {len(value)} characters long; at most {MAX_NAME_LENGTH} allowed"
            )
    return queue_name, job_name


def pause(queue_name: str, job_name: str = "", *, by: str = "", reason: str = "") -> bool:
    """Pause a queue (or one job name in it); False when it was paused already.

    Takes effect at every worker's next claim; running steps finish.
    """
    queue_name, job_name = validate(queue_name, job_name)
    alias = router.db_for_write(QueuePause)
    try:
        # A savepoint: a concurrent pause of the same queue must not break a caller's transaction.
        with transaction.atomic(using=alias):
            QueuePause.objects.using(alias).create(
                queue_name=queue_name, job_name=job_name, paused_by=by[:150], reason=reason[:255]
            )
    except IntegrityError:
        return False
    logger.info("event=queue_paused queue=%s job=%s by=%s", queue_name, job_name or "*", by)
    return True


def resume(queue_name: str, job_name: str = "") -> bool:
    """Resume a paused queue (or job name); False when it was not paused.

    Resuming the queue does not resume job names paused on their own, and the other way round.
    On PostgreSQL the queue's idle workers are woken at once.
    """
    queue_name, job_name = validate(queue_name, job_name)
    alias = router.db_for_write(QueuePause)
    deleted, _ = (
        QueuePause.objects.using(alias).filter(queue_name=queue_name, job_name=job_name).delete()
    )
    if not deleted:
        return False
    wake_queue(alias, queue_name)
    logger.info("event=queue_resumed queue=%s job=%s", queue_name, job_name or "*")
    return True


def paused(queue_names: list[str] | None = None) -> list[QueuePause]:
    """The pause rows (of ``queue_names``, or all), in queue then job name order."""
    rows = QueuePause.objects.all()
    if queue_names:
        rows = rows.filter(queue_name__in=queue_names)
    return list(rows)


def as_dict(row: QueuePause) -> dict[str, Any]:
    """A pause row for JSON output."""
    return {
        "queue_name": row.queue_name,
        "job_name": row.job_name or None,
        "paused_at": row.paused_at.isoformat(),
        "paused_by": row.paused_by,
        "reason": row.reason,
    }


def render(row: QueuePause) -> str:
    """A pause row as one line of text."""
    extra = "".join(
        f" {label}={value!r}"
        for label, value in (("by", row.paused_by), ("reason", row.reason))
        if value
    )
    since = row.paused_at.isoformat(timespec="seconds")
    return f"{describe(row.queue_name, row.job_name)}: paused since {since}{extra}"


class PauseWatch:
    """A worker loop's view of its queue's pauses, read at most once per WATCH_SECONDS.

    The claim itself obeys pauses; this is for jobs the loop holds already: those waiting in a
    claimed batch, and the next step of a job it keeps (a chain).
    """

    def __init__(self, queue_name: str, interval: float = WATCH_SECONDS):
        self.queue_name = queue_name
        self.interval = interval
        self._names: frozenset[str] = frozenset()
        self._read_at: float | None = None

    def claimed(self) -> None:
        """A claim just succeeded, which proves no pause covered what it took: no read needed
        for another WATCH_SECONDS."""
        self._names = frozenset()
        self._read_at = time.monotonic()

    def stops(self, job_name: str) -> bool:
        """Whether a pause stops a job of this name from starting its next step now."""
        now = time.monotonic()
        if self._read_at is None or now - self._read_at >= self.interval:
            self._names = frozenset(
                QueuePause.objects.filter(queue_name=self.queue_name)
                .order_by()
                .values_list("job_name", flat=True)
            )
            self._read_at = now
        return bool(self._names) and ("" in self._names or job_name in self._names)
