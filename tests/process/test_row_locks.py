"""A step that holds its job's row locked never makes another thread's step run twice."""

import signal

import pytest
from django.db import connection

from django_dbq.models import Job, JobState
from tests.models import StepRun
from tests.process.test_shutdown import exit_code, state_of, wait_for

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def test_an_atomic_step_holding_its_row_lock_lets_no_other_step_run_twice(manage):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite locks the whole database, not rows: nobody can rescue meanwhile")
    # The atomic step saves its job, so its transaction holds the row locked for 3 s, twice the
    # lease; the plain step beside it runs 5 s. A heartbeat waiting on the locked row let the
    # plain step's lease lapse, and the idle third thread rescued it and ran it a second time.
    held = Job.objects.create(name="process_atomic_save", workspace={"seconds": 3})
    long = Job.objects.create(name="process_long", workspace={"seconds": 5})
    pool = manage(
        "worker", "--concurrency", "3", "--batch-size", "1", env={"DBQ_LEASE_SECONDS": "1.5"}
    )

    for job in (held, long):
        wait_for(lambda job=job: state_of(job)() == JobState.COMPLETED, "both jobs to complete")
    pool.send_signal(signal.SIGTERM)
    assert exit_code(pool) == 0

    assert StepRun.objects.filter(job_id=long.pk, step="start").count() == 1
    assert Job.objects.get(pk=long.pk).rescues == 0
    assert Job.objects.get(pk=held.pk).workspace["saved"] is True
