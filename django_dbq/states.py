"""A job's states, the groups of states queries use, and a filter for the lease index."""

from __future__ import annotations

from django.db import models
from django.db.models import BooleanField, F, Func


class JobState(models.TextChoices):
    """The states of a job."""

    # Enqueued; its first step has not started yet.
    NEW = "NEW", "New"
    # Between two steps, or waiting for a retry; runnable once run_after has passed.
    READY = "READY", "Ready"
    # A worker holds the lease and is running a step.
    PROCESSING = "PROCESSING", "Processing"
    # Cancelled while a step was running; becomes CANCELLED when that step ends.
    STOPPING = "STOPPING", "Stopping"
    # Every step ran.
    COMPLETED = "COMPLETED", "Completed"
    # A step failed with no attempts left; last_error and traceback say why.
    FAILED = "FAILED", "Failed"
    # Cancelled; no further step runs.
    CANCELLED = "CANCELLED", "Cancelled"


# django-db-queue 3.x spelled COMPLETED as COMPLETE; keep the old name as an alias.
JobState.COMPLETE = JobState.COMPLETED  # type: ignore[attr-defined]

WAITING_STATES = (JobState.NEW, JobState.READY)
ACTIVE_STATES = (JobState.NEW, JobState.READY, JobState.PROCESSING, JobState.STOPPING)
FINISHED_STATES = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)
# A worker holds these jobs' leases.
LEASED_STATES = (JobState.PROCESSING, JobState.STOPPING)


def leased_states() -> Func:
    """A filter for jobs in LEASED_STATES that can use the partial index dbq_job_lease_idx.

    It writes the states out as literals: SQLite uses a partial index only when the query
    repeats the index's condition term for term, which a parameter never does. PostgreSQL
    proves it either way; MariaDB/MySQL keep a full index.
    """
    states = ", ".join(f"'{state.value}'" for state in LEASED_STATES)
    return Func(F("state"), template=f"%(expressions)s IN ({states})", output_field=BooleanField())
