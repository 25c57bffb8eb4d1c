"""The lifeline: rescuing steps whose worker died, in any worker process."""

from __future__ import annotations

import logging
import random
import time

from django.db import DatabaseError, InterfaceError

from .. import instruments, signals, transitions
from ..exceptions import StepLost
from ..executor import run_failure_hook
from ..jsonvalues import storable_problem
from ..models import Job, JobState
from ..rate_log import prune_step_starts
from ..registry import get_registry
from . import DatabaseBackoff

logger = logging.getLogger(__name__)


def rescue_expired_leases() -> int:
    """Return steps whose lease expired to the queue (or end them); returns jobs changed.

    See transitions.rescue_expired(). Jobs given up on after DBQ_MAX_RESCUES rescues get their
    failure hook and job_failed, as after any last attempt.
    """
    requeued, cancelled, given_up = transitions.rescue_expired()
    if requeued or cancelled:
        logger.warning("event=leases_rescued requeued=%s cancelled=%s", requeued, cancelled)
    if instruments.on_rescue is not None and (requeued or cancelled or given_up):
        instruments.on_rescue(requeued, cancelled, len(given_up))
    for job in given_up:
        _gave_up(job)
    return requeued + cancelled + len(given_up)


def _gave_up(job: Job) -> None:
    error = StepLost(job.last_error)
    logger.error("event=job_failed job=%s id=%s error=%s", job.name, job.pk, job.last_error)
    spec = get_registry().specs.get(job.name)
    if spec is not None:
        run_failure_hook(spec, job, error)
        # The hook may record something in the workspace, as after any last attempt.
        if storable_problem(job.workspace) is None:
            Job.objects.filter(pk=job.pk, state=JobState.FAILED).update(workspace=job.workspace)
    signals.send(signals.job_failed, job=job, error=error)


# Seconds between two prunings of the rate limits' start log by one worker process.
PRUNE_SECONDS = 60.0


class Rescuer:
    """Runs rescue_expired_leases() about every half lease, jittered so that many workers
    started together do not all rescue at once; prunes the rate limits' start log (rate_log)
    about every minute while JOBS declares a rate limit."""

    name = "rescue"

    def __init__(self, lease_seconds: float):
        self.lease_seconds = lease_seconds
        self.backoff = DatabaseBackoff("rescue_database_error")
        self._pruned_at: float | None = None

    def run_once(self) -> float:
        """Rescue once; returns the seconds until the next rescue."""
        try:
            rescue_expired_leases()
            self._prune_if_due()
        except (DatabaseError, InterfaceError) as error:
            return self.backoff.failed(error)
        self.backoff.succeeded()
        return self.lease_seconds / 2 * (0.75 + random.random() / 2)

    def _prune_if_due(self) -> None:
        windows = [
            spec.rate_limit.seconds
            for spec in get_registry().limited.values()
            if spec.rate_limit is not None
        ]
        now = time.monotonic()
        if not windows or (self._pruned_at is not None and now - self._pruned_at < PRUNE_SECONDS):
            return
        self._pruned_at = now
        deleted = prune_step_starts(max(windows))
        if deleted:
            logger.info("event=step_starts_pruned count=%s", deleted)
