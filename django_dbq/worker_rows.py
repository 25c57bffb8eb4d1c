"""The WorkerProcess model: one row per running worker process, kept fresh by the process.

A worker process inserts its row when it starts, updates ``last_seen`` (and what it runs) about
every third of a lease from its housekeeping thread (periodic/presence.py) and deletes the row
when it exits cleanly. A process that died leaves a row whose ``last_seen`` grows old; any live
worker prunes such rows. ``queue_status`` lists the fresh rows and ``queue_status --check`` fails
when none is fresh.
"""

from __future__ import annotations

import datetime

from django.db import models
from django.utils import timezone

from .conf import settings as conf


def default_max_silence() -> float:
    """Seconds after which a worker row counts as silent: two leases (six missed beats)."""
    return 2 * conf.DBQ_LEASE_SECONDS


class WorkerProcessQuerySet(models.QuerySet):
    """Queries over worker rows."""

    def live(self, now: datetime.datetime | None = None):
        """Rows of processes seen within default_max_silence()."""
        return self.seen_since(default_max_silence(), now)

    def seen_since(self, seconds: float, now: datetime.datetime | None = None):
        """Rows whose process wrote ``last_seen`` within the last ``seconds``."""
        now = now or timezone.now()
        return self.filter(last_seen__gte=now - datetime.timedelta(seconds=seconds))


class WorkerProcess(models.Model):
    """A running ``manage.py worker`` process (or a Runner): its queue, host, pid and loops."""

    # host:pid:random, like a worker loop's id; not one of them: a process has 1..N loops.
    id = models.CharField(primary_key=True, max_length=100)
    queue_name = models.CharField(max_length=100)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    # Worker loops (threads) in the process, and their ids: the lease_owner of the jobs they run.
    concurrency = models.PositiveIntegerField(default=1)
    worker_ids = models.JSONField(default=list)
    # Ids (as strings) of the jobs the loops were running at the last beat.
    current_jobs = models.JSONField(default=list)
    # Steps run by all loops since the process started.
    steps_run = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()

    objects = WorkerProcessQuerySet.as_manager()

    class Meta:
        ordering = ["queue_name", "started_at"]
        # Liveness checks and the pruning of dead processes' rows read by last_seen.
        indexes = [models.Index(fields=["last_seen"], name="dbq_worker_last_seen_idx")]

    def __str__(self) -> str:
        return f"{self.id} ({self.queue_name})"
