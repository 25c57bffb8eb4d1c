"""Housekeeping any worker does: rescuing steps whose worker died."""

from __future__ import annotations

import logging

from django.db.models import Q
from django.utils import timezone

from .conf import settings as conf
from .models import Job, JobState, leased_states

logger = logging.getLogger(__name__)


def rescue_expired_leases() -> int:
    """Return steps whose lease expired to the queue (or end them); returns jobs changed.

    A lease expires only when its worker stopped renewing it: killed, frozen or cut off. Such a
    step may have run partly, so it runs again (at least once). After DBQ_MAX_RESCUES
    rescues the job is FAILED instead, so a step that kills its worker cannot loop forever.
    Each UPDATE re-checks its conditions under the row lock, so concurrent rescuers are safe.
    """
    now = timezone.now()
    # leased_states() repeats the condition of the partial index dbq_job_lease_idx.
    expired = leased_states() & (Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True))
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
    failed = _fail_exhausted(expired, now, f"{message}; gave up after {limit} rescues")
    cancelled = Job.objects.filter(expired, state=JobState.STOPPING).update(
        state=JobState.CANCELLED,
        lease_expires_at=None,
        finished_at=now,
        unique_key=None,
        modified=now,
    )
    if requeued or cancelled:
        logger.warning("event=leases_rescued requeued=%s cancelled=%s", requeued, cancelled)
    return requeued + failed + cancelled


def _fail_exhausted(expired: Q, now, message: str) -> int:
    """Fail jobs rescued DBQ_MAX_RESCUES times, one by one: failure hook and job_failed too."""
    from . import signals
    from .exceptions import StepLost
    from .executor import _run_failure_hook
    from .registry import get_registry

    limit = conf.DBQ_MAX_RESCUES
    exhausted = Job.objects.filter(expired, state=JobState.PROCESSING, rescues__gte=limit)
    failed = 0
    for job in exhausted.order_by()[:100]:
        # Guarded by the lease owner read above: a job another rescuer handled is skipped.
        if not Job.objects.filter(
            expired, pk=job.pk, state=JobState.PROCESSING, lease_owner=job.lease_owner
        ).update(
            state=JobState.FAILED,
            lease_expires_at=None,
            finished_at=now,
            unique_key=None,
            last_error=message,
            modified=now,
        ):
            continue
        failed += 1
        error = StepLost(message)
        logger.error("event=job_failed job=%s id=%s error=%s", job.name, job.pk, message)
        spec = get_registry().specs.get(job.name)
        if spec is not None:
            _run_failure_hook(spec, job, error)
            # The hook may record something in the workspace, as after any last attempt.
            Job.objects.filter(pk=job.pk, state=JobState.FAILED).update(workspace=job.workspace)
        signals.send(signals.job_failed, job=job, error=error)
    return failed
