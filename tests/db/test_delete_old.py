"""Job.objects.delete_old() deletes jobs that ended long ago, never one a worker still holds."""

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from django_dbq.models import Job, JobState

pytestmark = pytest.mark.django_db

LONG_AGO = datetime.timedelta(hours=25)
SECOND = datetime.timedelta(seconds=1)


def old_job(state, lease_expires_at=None):
    job = Job.objects.create(name="basic")
    Job.objects.filter(pk=job.pk).update(
        state=state,
        created=timezone.now() - LONG_AGO,
        lease_owner="host:1:abc" if lease_expires_at else "",
        lease_expires_at=lease_expires_at,
    )
    return job


def remaining():
    return set(Job.objects.values_list("state", flat=True))


def before_the_delete(change):
    """A database execute wrapper that runs ``change`` once, just before the first DELETE."""
    done = []

    def wrapper(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("DELETE") and not done:
            done.append(True)
            change()
        return execute(sql, params, many, context)

    return connection.execute_wrapper(wrapper)


def test_old_finished_jobs_are_deleted_and_waiting_and_running_ones_kept():
    for state in JobState.values:
        old_job(state, lease_expires_at=timezone.now() + datetime.timedelta(minutes=1))
    Job.objects.create(name="basic").cancel()  # finished, but recently
    assert Job.objects.delete_old() == 3
    assert remaining() == {"NEW", "READY", "PROCESSING", "STOPPING", "CANCELLED"}


def test_an_old_stopping_job_whose_worker_died_is_deleted():
    old_job(JobState.STOPPING, lease_expires_at=timezone.now() - SECOND)
    assert Job.objects.delete_old() == 1


def test_an_old_stopping_job_without_a_lease_is_deleted():
    old_job(JobState.STOPPING)
    assert Job.objects.delete_old() == 1


def test_an_old_stopping_job_whose_step_still_runs_is_kept():
    job = old_job(JobState.STOPPING, lease_expires_at=timezone.now() + datetime.timedelta(hours=1))
    assert Job.objects.delete_old() == 0
    assert Job.objects.filter(pk=job.pk).exists()


def test_a_stopping_job_whose_lease_is_renewed_while_deleting_is_kept():
    job = old_job(JobState.STOPPING, lease_expires_at=timezone.now() - SECOND)

    def heartbeat():
        Job.objects.filter(pk=job.pk).update(
            lease_expires_at=timezone.now() + datetime.timedelta(minutes=1)
        )

    with before_the_delete(heartbeat):
        assert Job.objects.delete_old() == 0
    assert Job.objects.filter(pk=job.pk).exists()


def test_a_failed_job_retried_while_deleting_is_kept():
    job = old_job(JobState.FAILED)
    with before_the_delete(lambda: Job.objects.filter(pk=job.pk).retry()):
        assert Job.objects.delete_old() == 0
    assert Job.objects.get(pk=job.pk).state == JobState.READY
