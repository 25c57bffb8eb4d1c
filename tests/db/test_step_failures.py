"""However a step fails, that step of its job fails and the worker carries on; a step whose
database connection died has not failed: its job is left to its lease and rescued."""

import pytest
from django.db import Error, connection

from django_dbq.executor import run_step
from django_dbq.models import Job, JobState
from django_dbq.testing import drain
from django_dbq.worker import Worker
from tests import tasks
from tests.models import Marker

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs(settings):
    settings.JOBS = {
        **settings.JOBS,
        "bad_json": ["tests.tasks.leave_a_set"],
        "exits": ["tests.tasks.call_sys_exit"],
        "slow_query": {"tasks": ["tests.tasks.slow_query"], "timeout": 0.3},
    }


def test_a_workspace_json_cannot_store_fails_the_step_not_the_worker(jobs):
    bad = Job.objects.create(name="bad_json")
    fine = Job.objects.create(name="basic")
    drain()
    bad.refresh_from_db()
    fine.refresh_from_db()
    assert bad.state == JobState.FAILED and "not JSON-serialisable" in bad.last_error
    assert fine.state == JobState.COMPLETED


def test_a_task_calling_sys_exit_fails_its_step_not_the_worker(jobs):
    job = Job.objects.create(name="exits")
    drain()
    job.refresh_from_db()
    assert job.state == JobState.FAILED and "SystemExit" in job.last_error


@pytest.mark.django_db(transaction=True)
def test_a_timeout_inside_a_query_is_recorded_as_the_steps_failure(jobs):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has no sleep function to hold a query open")
    job = Job.objects.create(name="slow_query")
    drain()
    job.refresh_from_db()
    assert job.state == JobState.FAILED and "StepTimeout" in job.last_error


# -- a lost connection is not the step's failure ------------------------------------------------


def lose_connection(job):
    """A step whose database connection dies under it: the server ends the session."""
    if connection.vendor == "sqlite":
        connection.connection.close()  # no server: close the DB-API connection beneath Django
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # an earlier write of the step
        kill_own_session()
    Marker.objects.create(job_id=job.pk)


def kill_own_session():
    """Have the server end this connection's session, as an administrator's kill does."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        else:
            cursor.execute("SELECT CONNECTION_ID()")
            (session,) = cursor.fetchone()
            cursor.execute(f"KILL CONNECTION {int(session)}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "plain"])
def test_step_whose_connection_dies_is_left_to_its_lease_not_failed(settings, atomic):
    # Found by bench/faults.py: an atomic step ended its job FAILED ("server closed the
    # connection unexpectedly"): Django could not roll back on the dead connection and closed
    # it, and the executor recorded the error on a fresh connection as the step's own failure.
    settings.JOBS = {
        **settings.JOBS,
        "connection_dies": {
            "tasks": ["tests.db.test_step_failures.lose_connection"],
            "atomic": atomic,
            "failure_hook": "tests.tasks.on_failure",
        },
    }
    if connection.vendor == "sqlite" and not atomic:
        pytest.skip("SQLite has no server to end the session; is_usable() is always True there")
    job = Job.objects.create(name="connection_dies")
    worker = Worker("default")
    (claimed,) = worker._claim(1)

    # The worker's loop handles database errors: it drops its leases and reconnects.
    with pytest.raises(Error):
        run_step(claimed, worker.lease)
    connection.close()

    job.refresh_from_db()
    # Still leased to the worker: the rescue returns it once the lease expires.
    assert (job.state, job.lease_owner) == (JobState.PROCESSING, worker.worker_id)
    assert job.last_error == ""
    assert not Marker.objects.filter(job_id=job.pk).exists()
    # The step did not fail, so its failure hook did not run either.
    assert not [call for call in tasks.CALLS if call[0] == "failure_hook"]


def test_a_hook_calling_sys_exit_does_not_stop_the_worker():
    job = Job.objects.create(name="exits_in_post_hook")

    drain()

    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
