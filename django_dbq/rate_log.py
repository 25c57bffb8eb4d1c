"""The StepStart model: the sliding log of step starts that rate limits count.

A keyed claim (engine/keyed.py) of a job with a ``rate_limit`` writes one row per step it
starts, in the claim's own transaction; a later claim counts the rows of the key within the
window. Rows older than the longest declared window are pruned by the rescuer
(periodic/rescue.py) about every minute.
"""

from __future__ import annotations

import datetime

from django.db import models
from django.utils import timezone

from .flow import RATE_UNITS

# Rows older than this count for no window.
KEPT_SECONDS = max(RATE_UNITS.values())


class StepStart(models.Model):
    """One step of a rate-limited job started: its rate scope (key or job name) and when."""

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=255)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            # The claim counts a scope's starts in its window; pruning deletes old ones.
            models.Index(fields=["scope", "at"], name="dbq_step_start_scope_idx"),
            models.Index(fields=["at"], name="dbq_step_start_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} at {self.at}"


def prune_step_starts(
    seconds: float = KEPT_SECONDS, now: datetime.datetime | None = None, using: str | None = None
) -> int:
    """Delete starts older than ``seconds`` (the longest rate window); returns rows deleted."""
    cutoff = (now or timezone.now()) - datetime.timedelta(seconds=seconds)
    rows = StepStart.objects.using(using) if using else StepStart.objects
    deleted, _ = rows.filter(at__lt=cutoff).delete()
    return deleted
