"""Housekeeping any worker does: rescuing steps whose worker died."""

from __future__ import annotations

import logging

from django.db.models import Q
from django.utils import timezone

from .conf import settings as conf
from .models import Job, JobState

logger = logging.getLogger(__name__)


def rescue_expired_leases() -> int:
    """Return steps whose lease expired to the queue (or end them); returns jobs changed.

    A lease expires only when its worker stopped renewing it: killed, frozen or cut off. Such a
    step may have run partly, so it runs again (at least once). After DBQ_MAX_RESCUES
    rescues the job is FAILED instead, so a step that kills its worker cannot loop forever.
    Each UPDATE re-checks its conditions under the row lock, so concurrent rescuers are safe.
    """
    now = timezone.now()
    expired = Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    limit = conf.DBQ_MAX_RESCUES
    message = "django_dbq.LeaseExpired: the worker running this step stopped (lease expired)"
    from django.db.models import F

    requeued = Job.objects.filter(expired, state=JobState.PROCESSING, rescues__lt=limit).update(
        state=JobState.READY,
        lease_expires_at=None,
        rescues=F("rescues") + 1,
        last_error=message,
        modified=now,
    )
    failed = Job.objects.filter(expired, state=JobState.PROCESSING, rescues__gte=limit).update(
        state=JobState.FAILED,
        lease_expires_at=None,
        finished_at=now,
        unique_key=None,
        last_error=f"{message}; gave up after {limit} rescues (DBQ_MAX_RESCUES)",
        modified=now,
    )
    cancelled = Job.objects.filter(expired, state=JobState.STOPPING).update(
        state=JobState.CANCELLED,
        lease_expires_at=None,
        finished_at=now,
        unique_key=None,
        modified=now,
    )
    if requeued or failed or cancelled:
        logger.warning(
            "event=leases_rescued requeued=%s failed=%s cancelled=%s", requeued, failed, cancelled
        )
    return requeued + failed + cancelled
