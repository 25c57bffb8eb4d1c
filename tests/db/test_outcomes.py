"""Succeeded steps' outcomes are written in groups, each write still guarded by the lease and
holding the workspace as its step left it; a failure writes the job's waiting outcome first."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_dbq import signals
from django_dbq.executor import run_step
from django_dbq.models import Job, JobState
from django_dbq.outcomes import OutcomeBuffer
from django_dbq.periodic.heartbeat import Heartbeat
from django_dbq.testing import drain
from django_dbq.worker import Worker

pytestmark = pytest.mark.django_db


def claimed(worker, count):
    return worker._claim(count)


def test_outcomes_wait_in_the_buffer_until_flushed():
    Job.objects.create(name="basic")
    worker = Worker("default")
    (job,) = claimed(worker, 1)
    outcome = run_step(job, worker.lease, buffer=worker.outcomes)
    assert (outcome.kind, outcome.pending) == ("completed", True)
    assert Job.objects.get().state == JobState.PROCESSING
    assert worker.outcomes.flush() == 1
    assert Job.objects.get().state == JobState.COMPLETED


def test_many_jobs_are_written_in_one_transaction():
    Job.objects.enqueue_many([Job(name="basic") for _ in range(5)])
    worker = Worker("default")
    for job in claimed(worker, 5):
        run_step(job, worker.lease, buffer=worker.outcomes)
    with CaptureQueriesContext(connection) as queries:
        worker.outcomes.flush()
    statements = [q for q in queries if "SAVEPOINT" not in q["sql"]]
    updates = [q for q in statements if q["sql"].startswith("UPDATE")]
    # One UPDATE for all of them: FROM (VALUES ...) on PostgreSQL and SQLite, a join with a
    # derived table on MariaDB/MySQL (which may then check which rows it changed). Inside a
    # transaction (as here) it runs in a savepoint, so that a refused value spoils nothing.
    assert len(updates) == 1
    assert len(statements) <= 2
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.COMPLETED}


def test_a_job_that_advanced_several_steps_is_written_once():
    job = Job.objects.create(name="three_steps")
    worker = Worker("default")
    (claimed_job,) = claimed(worker, 1)
    for _ in range(3):
        run_step(claimed_job, worker.lease, keep=True, buffer=worker.outcomes)
    with CaptureQueriesContext(connection) as queries:
        worker.outcomes.flush()
    assert len([q for q in queries if q["sql"].startswith("UPDATE")]) == 1
    job.refresh_from_db()
    assert (job.state, job.workspace) == (JobState.COMPLETED, {"count": 3})


def test_buffered_outcome_of_a_lost_lease_writes_nothing_and_says_so():
    job = Job.objects.create(name="basic")
    worker = Worker("default")
    (claimed_job,) = claimed(worker, 1)
    outcomes = []
    signals.step_finished.connect(receiver := lambda sender, **kw: outcomes.append(kw["outcome"]))
    try:
        run_step(claimed_job, worker.lease, buffer=worker.outcomes)
        Job.objects.filter(pk=job.pk).update(lease_owner="new-owner")
        assert worker.outcomes.flush() == 0
    finally:
        signals.step_finished.disconnect(receiver)
    job.refresh_from_db()
    assert (job.state, job.lease_owner, job.workspace) == (JobState.PROCESSING, "new-owner", {})
    assert outcomes == ["lease_lost"]


def test_buffered_outcome_of_a_job_cancelled_meanwhile_ends_cancelled():
    job = Job.objects.create(name="three_steps")
    worker = Worker("default")
    (claimed_job,) = claimed(worker, 1)
    run_step(claimed_job, worker.lease, keep=True, buffer=worker.outcomes)
    Job.objects.filter(pk=job.pk).update(state=JobState.STOPPING)
    worker.outcomes.flush()
    job.refresh_from_db()
    assert (job.state, job.step) == (JobState.CANCELLED, 0)


def test_worker_keeps_renewing_a_lease_until_its_outcome_is_written():
    Job.objects.create(name="basic")
    worker = Worker("default")
    (job,) = claimed(worker, 1)
    run_step(job, worker.lease, buffer=worker.outcomes)
    worker._forget_leases({job.pk})
    assert job.pk in worker.leases
    worker.outcomes.flush()
    assert job.pk not in worker.leases


def test_full_buffer_is_due_at_once():
    buffer = OutcomeBuffer(max_pending=1, max_delay=60)
    assert not buffer.due()
    job = Job.objects.create(name="basic")
    from django_dbq.executor import Lease

    buffer.add(job, Lease("w", 30), {"priority": 1}, lambda instead: None)
    assert buffer.due()


@pytest.mark.django_db(transaction=True)
def test_heartbeat_writes_outcomes_waiting_behind_a_long_step():
    job = Job.objects.create(name="basic")
    worker = Worker("default")
    worker.outcomes.max_delay = 0.01
    (claimed_job,) = claimed(worker, 1)
    run_step(claimed_job, worker.lease, buffer=worker.outcomes)
    heartbeat = Heartbeat(worker)
    heartbeat.start()
    try:
        deadline = time.monotonic() + 10
        while Job.objects.get(pk=job.pk).state != JobState.COMPLETED:
            assert time.monotonic() < deadline, "the heartbeat never wrote the outcome"
            time.sleep(0.02)
    finally:
        heartbeat.stop()


@pytest.mark.django_db(transaction=True)
def test_a_slow_signal_receiver_does_not_hold_up_lease_renewals():
    from django.utils import timezone

    Job.objects.create(name="basic")
    long_running = Job.objects.create(name="io_wait")
    worker = Worker("default", lease_seconds=0.6)
    worker.outcomes.max_delay = 0.01
    first, second = claimed(worker, 2)
    assert second.pk == long_running.pk
    run_step(first, worker.lease, buffer=worker.outcomes)  # its outcome waits in the buffer
    receiving = []

    def slow_receiver(sender, job, **kwargs):
        receiving.append(job.pk)
        time.sleep(1.5)

    signals.job_completed.connect(slow_receiver)
    heartbeat = Heartbeat(worker)
    heartbeat.start()
    try:
        # While the receiver sleeps (a long step would be running), the lease of the other
        # held job must still be renewed: 1.2 s is twice the lease.
        time.sleep(1.2)
        assert receiving == [first.pk]
        assert Job.objects.get(pk=long_running.pk).lease_expires_at > timezone.now()
    finally:
        heartbeat.stop()
        signals.job_completed.disconnect(slow_receiver)


def test_buffered_outcome_keeps_the_workspace_as_the_step_left_it():
    # Found by bench/faults.py: a job completed with {"steps": ["a", "b", "b", "c"]}. The
    # buffered outcome held the workspace dict itself; the heartbeat thread wrote it after the
    # next step had changed it in place, and that step ran again, after a rescue, on top.
    job = Job.objects.create(name="process_pipeline")
    worker = Worker("default")
    (claimed_job,) = claimed(worker, 1)
    buffer = OutcomeBuffer()
    run_step(claimed_job, worker.lease, keep=True, buffer=buffer)  # step a, outcome buffered
    # The next step starts and changes the workspace in place, as tasks do ...
    claimed_job.workspace["steps"].append("b")
    # ... while the heartbeat thread writes the buffered outcome of step a.
    buffer.flush()

    job.refresh_from_db()
    assert (job.step, job.workspace) == (1, {"steps": ["a"]})


def test_a_failure_writes_the_jobs_buffered_earlier_step_first(settings):
    settings.JOBS = {**settings.JOBS, "add_then_fail": ["tests.tasks.add_one", "tests.tasks.fail"]}
    job = Job.objects.create(name="add_then_fail")
    drain()
    job.refresh_from_db()
    # Step 1's buffered advance was written before the failure: the row says step 2 failed.
    assert (job.state, job.step, job.workspace) == (JobState.FAILED, 1, {"count": 1})


@pytest.mark.django_db
def test_zero_outcome_delay_writes_every_step_at_once(settings):
    settings.DBQ_OUTCOME_DELAY = 0
    job = Job.objects.create(name="three_steps")
    worker = Worker("default")
    (claimed_job,) = claimed(worker, 1)
    run_step(claimed_job, worker.lease, keep=True, buffer=worker.outcomes)
    assert worker.outcomes.due()  # the worker writes after every step when due
    worker.outcomes.flush()
    job.refresh_from_db()
    assert (job.state, job.step) == (JobState.PROCESSING, 1)


def test_every_outcome_names_the_same_columns():
    # A group is written with one column list; an outcome lacking a column would take the
    # job's in-memory value, which its next step may already have changed.
    Job.objects.create(name="three_steps")
    Job.objects.create(name="basic")
    worker = Worker("default")
    for job in claimed(worker, 2):
        run_step(job, worker.lease, keep=True, buffer=worker.outcomes)
    kept, completed = (entry.values for entry in worker.outcomes._pending.values())
    assert set(kept) == set(completed)
