"""A job deleted or cancelled while its step runs: said as it is, and nothing half-written."""

import logging

import pytest
from django.db import connection

from django_dbq.executor import CANCELLED, DELETED, run_step
from django_dbq.models import Job, JobState
from django_dbq.worker import Worker
from tests.models import Marker

pytestmark = pytest.mark.django_db


def test_a_job_deleted_while_its_step_runs_is_logged_as_deleted(caplog):
    job = Job.objects.create(name="deletes_itself")
    worker = Worker("default")
    (claimed,) = worker._claim(1)

    with caplog.at_level(logging.WARNING, logger="django_dbq"):
        outcome = run_step(claimed, worker.lease)

    assert outcome.kind == DELETED
    assert "event=job_deleted" in caplog.text
    assert "event=lease_lost" not in caplog.text
    assert not Job.objects.filter(pk=job.pk).exists()


def test_a_buffered_outcome_of_a_deleted_job_is_logged_as_deleted(caplog, settings):
    settings.DBQ_OUTCOME_DELAY = 60
    Job.objects.create(name="three_steps")
    worker = Worker("default")
    (claimed,) = worker._claim(1)
    run_step(claimed, worker.lease, keep=True, buffer=worker.outcomes)
    Job.objects.filter(pk=claimed.pk).delete()

    with caplog.at_level(logging.WARNING, logger="django_dbq"):
        assert worker.outcomes.flush() == 0

    assert "event=job_deleted" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_an_atomic_step_of_a_job_cancelled_meanwhile_rolls_back_its_writes():
    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite lets no other connection write while the atomic step's transaction runs"
        )
    job = Job.objects.create(name="atomic_cancelled")
    worker = Worker("default")
    (claimed,) = worker._claim(1)

    outcome = run_step(claimed, worker.lease)

    assert outcome.kind == CANCELLED
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert not Marker.objects.filter(job_id=job.pk).exists()
