"""Reproductions of engine bugs found by the fault-injection run (bench/faults.py).

FOUND BY bench/faults.py: a database connection killed while an ``atomic`` step ran ended the
job FAILED ("OperationalError: server closed the connection unexpectedly") instead of leaving
it to its lease, so the job was neither completed nor rescued. Atomic.__exit__ could not roll
back on the dead connection and closed it; the executor then recorded the step's failure on a
fresh connection, as if the step itself had failed. A plain step in the same situation was
rescued, because its failure could not be written on the dead connection.

FOUND BY bench/faults.py: on PostgreSQL, an idle worker whose connection was killed while it
waited for a notification crashed (exit 1, "psycopg.OperationalError: consuming input failed:
server closed the connection unexpectedly" raised from PostgreSQLWaker.wait via
Worker._wait_for_work). The waker read notifications on the DB-API connection, outside Django's
error wrapper and outside the worker's handling of database errors.

FOUND BY bench/faults.py: a plain job completed with the workspace {"steps": ["a", "b", "b",
"c"]}: step b's effect on the workspace counted twice. A buffered outcome (outcomes.py) held the
job's workspace dict itself, not a copy. The heartbeat thread flushed it while the main thread
ran the next step, which had already changed that dict in place: the row said "step b next"
with b's change already in the workspace. The worker was then killed, the job rescued, and b
ran again on top of its own change.
"""

import time

import pytest
from django.db import Error, connection

from django_dbq.executor import run_step
from django_dbq.models import Job, JobState
from django_dbq.notify import waker_for
from django_dbq.outcomes import OutcomeBuffer
from django_dbq.worker import Worker
from tests import tasks
from tests.models import Marker

pytestmark = pytest.mark.django_db(transaction=True)

TASK = "tests.db.test_fault_repro.lose_connection"


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


def on_failure(job, exception):
    tasks.CALLS.append(("failure_hook", job.name, repr(exception)))


@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "plain"])
def test_step_whose_connection_dies_is_left_to_its_lease_not_failed(settings, atomic):
    settings.JOBS = {
        **settings.JOBS,
        "connection_dies": {
            "tasks": [TASK],
            "atomic": atomic,
            "failure_hook": "tests.db.test_fault_repro.on_failure",
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


def test_idle_postgresql_worker_survives_losing_its_listening_connection():
    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL workers wait on their connection (LISTEN/NOTIFY)")
    waker = waker_for("default", "default")
    waker.wait(0)  # now listening on this connection
    with pytest.raises(Error):
        kill_own_session()

    waker.wait(0.05)  # must not raise: the worker would die

    # Listening again on a new connection: a new job wakes the waiter at once.
    waker.wait(0)
    Job.objects.create(name="basic")
    started = time.monotonic()
    waker.wait(5)
    assert time.monotonic() - started < 4


def test_buffered_outcome_keeps_the_workspace_as_the_step_left_it():
    job = Job.objects.create(name="process_pipeline")
    worker = Worker("default")
    (claimed,) = worker._claim(1)
    buffer = OutcomeBuffer()
    run_step(claimed, worker.lease, keep=True, buffer=buffer)  # step a, outcome buffered
    # The next step starts and changes the workspace in place, as tasks do ...
    claimed.workspace["steps"].append("b")
    # ... while the heartbeat thread writes the buffered outcome of step a.
    buffer.flush()

    job.refresh_from_db()
    assert (job.step, job.workspace) == (1, {"steps": ["a"]})
