"""A job's states, the groups of states queries use, and a filter for the lease index."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Lookup


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


class InStates(Lookup):
    """``state IN ('A', 'B')`` with the states written out as literals, not parameters.

    SQLite uses a partial index only when the query repeats the index's condition term for
    term, which a parameter never does. A Lookup, so that Django puts it in the WHERE clause
    as it is (a plain boolean expression may get an ``= True`` appended, which no index
    condition matches).
    """

    lookup_name = "in_states"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        column, params = self.process_lhs(compiler, connection)
        states = ", ".join(f"'{JobState(state).value}'" for state in self.rhs)
        return f"{column} IN ({states})", params


def leased_states() -> InStates:
    """A filter for jobs in LEASED_STATES that can use the partial index dbq_job_lease_idx.

    PostgreSQL proves that the index applies either way; MariaDB/MySQL keep a full index.
    """
    return InStates(F("state"), LEASED_STATES)
