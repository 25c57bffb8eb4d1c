"""Behaviours a review of the engine found wanting, pinned by tests."""

import pytest
from django.db import IntegrityError, OperationalError, connection

from django_dbq import executor
from django_dbq.heartbeat import Heartbeat
from django_dbq.models import Job, JobState
from django_dbq.testing import drain
from django_dbq.worker import Worker

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs(settings):
    settings.JOBS = {
        **settings.JOBS,
        "cancel_in_step_two": [
            "tests.tasks.record_step",
            "tests.tasks.cancel_own_job",
            "tests.tasks.record_step",
            "tests.tasks.record_step",
        ],
        "bad_json": ["tests.tasks.leave_a_set"],
        "exits": ["tests.tasks.call_sys_exit"],
        "slow_query": {"tasks": ["tests.tasks.slow_query"], "timeout": 0.3},
        "add_then_fail": ["tests.tasks.add_one", "tests.tasks.fail"],
    }


def test_a_job_cancelled_during_a_step_runs_no_further_step(jobs, settings):
    settings.DBQ_OUTCOME_DELAY = 0  # every outcome written (and checked) before the next step
    job = Job.objects.create(name="cancel_in_step_two")
    drain()
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert job.workspace == {"ran": [0]}  # step 2's result discarded, steps 3 and 4 never ran


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


def test_a_failure_writes_the_jobs_buffered_earlier_step_first(jobs):
    job = Job.objects.create(name="add_then_fail")
    drain()
    job.refresh_from_db()
    # Step 1's buffered advance was written before the failure: the row says step 2 failed.
    assert (job.state, job.step, job.workspace) == (JobState.FAILED, 1, {"count": 1})


def test_jobs_of_a_batch_cut_short_by_a_database_error_are_handed_back(monkeypatch):
    for _ in range(3):
        Job.objects.create(name="basic")
    worker = Worker("default", batch_size=3)
    worker.batch_size = 3
    calls = []

    def broken_once(job, lease, **kwargs):
        if not calls:
            calls.append(job.pk)
            raise OperationalError("the database went away")
        return original(job, lease, **kwargs)

    original = executor.run_step
    monkeypatch.setattr("django_dbq.worker.run_step", broken_once)
    with pytest.raises(OperationalError):
        worker.run_batch()
    worker.run_batch()  # the database answers again: the two unstarted jobs are handed back
    unstarted = Job.objects.exclude(pk=calls[0])
    assert {(j.attempts, j.state) for j in unstarted} <= {
        (0, JobState.NEW),
        (0, JobState.COMPLETED),
    }
    assert not unstarted.filter(state=JobState.PROCESSING).exists()


def test_release_ends_a_job_cancelled_while_it_waited_in_the_batch():
    first = Job.objects.create(name="basic")
    second = Job.objects.create(name="basic")
    worker = Worker("default")
    claimed = worker._claim(2)
    Job.objects.filter(pk=second.pk).cancel()
    worker.release(claimed)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == (JobState.NEW, JobState.CANCELLED)


def test_heartbeat_marks_held_jobs_that_were_cancelled_or_taken_over():
    cancelled = Job.objects.create(name="basic")
    taken = Job.objects.create(name="basic")
    kept = Job.objects.create(name="basic")
    worker = Worker("default")
    worker._claim(3)
    Job.objects.filter(pk=cancelled.pk).cancel()
    Job.objects.filter(pk=taken.pk).update(lease_owner="another-worker")
    Heartbeat(worker).beat()
    assert worker.leases.is_lost(cancelled.pk) and worker.leases.is_lost(taken.pk)
    assert not worker.leases.is_lost(kept.pk)


def test_bulk_enqueue_errors_are_djangos(settings):
    Job.objects.create(name="unique_by_user", workspace={"user": 1})
    with pytest.raises(IntegrityError):
        Job.objects.enqueue_many([Job(name="unique_by_user", workspace={"user": 1})])
    assert Job.objects.count() == 1
