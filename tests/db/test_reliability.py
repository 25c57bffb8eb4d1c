"""Retries, timeouts, atomic steps, rescue of dead workers' steps, heartbeats."""

import datetime

import pytest
from django.test import override_settings
from django.utils import timezone

from django_dbq.models import Job, JobState
from django_dbq.periodic.heartbeat import Heartbeat
from django_dbq.periodic.rescue import rescue_expired_leases
from django_dbq.testing import drain, run_job
from django_dbq.worker import Worker
from tests import tasks
from tests.models import Marker

pytestmark = pytest.mark.django_db


def make_runnable(job):
    Job.objects.filter(pk=job.pk).update(run_after=None)


def test_failed_step_with_retries_left_waits_with_backoff_and_keeps_the_workspace():
    job = Job.objects.create(name="retrying", workspace={"keep": 1})
    before = timezone.now()
    drain()
    job.refresh_from_db()
    assert (job.state, job.attempts) == (JobState.READY, 1)
    assert job.run_after > before
    assert job.workspace == {"keep": 1}
    assert "attempt 1 failed" in job.last_error


def test_retried_step_succeeds_on_a_later_attempt():
    job = Job.objects.create(name="retrying", workspace={"succeed_on": 3})
    for _ in range(3):
        make_runnable(job)
        drain()
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert job.workspace["succeeded_on"] == 3


def test_failure_hook_runs_only_after_the_last_attempt(settings):
    settings.JOBS = {
        **settings.JOBS,
        "retrying": {**settings.JOBS["retrying"], "failure_hook": "tests.tasks.on_failure"},
    }
    job = Job.objects.create(name="retrying")
    for attempt in (1, 2):
        make_runnable(job)
        drain()
        assert not [call for call in tasks.CALLS if call[0] == "failure_hook"], attempt
    make_runnable(job)
    drain()
    job.refresh_from_db()
    assert job.state == JobState.FAILED and job.attempts == 3
    assert [call[0] for call in tasks.CALLS] == ["failure_hook"]


@override_settings(DBQ_RETRY_BACKOFF_MAX=float("inf"))
def test_a_retry_after_a_thousand_attempts_waits_at_most_a_year(settings):
    many_retries = {"tasks": ["tests.tasks.fail"], "retries": 1000}
    settings.JOBS = {**settings.JOBS, "many_retries": many_retries}
    job = Job.objects.create(name="many_retries")
    Job.objects.filter(pk=job.pk).update(attempts=999)
    before = timezone.now()
    drain()
    job.refresh_from_db()
    assert (job.state, job.attempts) == (JobState.READY, 1000)
    assert before < job.run_after <= timezone.now() + datetime.timedelta(days=365)


def test_step_over_its_timeout_fails_and_the_worker_carries_on():
    slow = Job.objects.create(name="slow", workspace={"seconds": 5})
    fine = Job.objects.create(name="basic")
    drain()
    slow.refresh_from_db()
    fine.refresh_from_db()
    assert slow.state == JobState.FAILED
    assert "StepTimeout" in slow.last_error and "0.5 seconds" in slow.last_error
    assert fine.state == JobState.COMPLETED


def test_atomic_step_that_fails_rolls_back_its_own_writes():
    job = Job.objects.create(name="atomic")
    drain()
    job.refresh_from_db()
    # Step 1 committed its marker with the advance; step 2 failed after nothing of its own.
    assert job.state == JobState.FAILED
    assert Marker.objects.filter(job_id=job.pk).count() == 1
    assert job.workspace == {"marked": True}


def test_atomic_step_writes_are_rolled_back_when_the_lease_was_lost(settings):
    settings.JOBS = {
        **settings.JOBS,
        "atomic_one": {"tasks": ["tests.tasks.write_marker"], "atomic": True},
    }
    job = Job.objects.create(name="atomic_one")
    worker = Worker("default")
    (claimed,) = worker._claim(1)
    Job.objects.filter(pk=job.pk).update(lease_owner="another-worker")
    from django_dbq.executor import run_step

    assert run_step(claimed, worker.lease).kind == "lease_lost"
    assert not Marker.objects.filter(job_id=job.pk).exists()


def expire(job, owner="dead-worker"):
    Job.objects.filter(pk=job.pk).update(
        state=JobState.PROCESSING,
        lease_owner=owner,
        lease_expires_at=timezone.now() - datetime.timedelta(seconds=1),
        attempts=1,
    )


def test_expired_lease_is_rescued_and_the_step_runs_again():
    job = Job.objects.create(name="three_steps")
    expire(job)
    assert rescue_expired_leases() == 1
    job.refresh_from_db()
    assert (job.state, job.rescues) == (JobState.READY, 1)
    assert "lease expired" in job.last_error
    drain()
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED


def test_live_lease_is_not_rescued():
    job = Job.objects.create(name="basic")
    Worker("default")._claim(1)
    assert rescue_expired_leases() == 0
    job.refresh_from_db()
    assert job.state == JobState.PROCESSING


@override_settings(DBQ_MAX_RESCUES=2)
def test_job_rescued_too_often_fails():
    job = Job.objects.create(name="basic")
    for _ in range(2):
        expire(job)
        rescue_expired_leases()
    expire(job)
    rescue_expired_leases()
    job.refresh_from_db()
    assert job.state == JobState.FAILED and "gave up after 2 rescues" in job.last_error


def test_cancelled_job_whose_worker_died_ends_cancelled():
    job = Job.objects.create(name="basic")
    expire(job)
    Job.objects.filter(pk=job.pk).update(state=JobState.STOPPING)
    rescue_expired_leases()
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED


def test_rows_left_processing_by_django_db_queue_3_are_rescued():
    job = Job.objects.create(name="basic")
    Job.objects.filter(pk=job.pk).update(state=JobState.PROCESSING, lease_expires_at=None)
    rescue_expired_leases()
    job.refresh_from_db()
    assert job.state == JobState.READY


def test_rescue_reads_the_lease_index_not_the_history():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor == "mysql":
        pytest.skip("MariaDB/MySQL keep a full (state, lease_expires_at) index")
    Job.objects.enqueue_many([Job(name="basic") for _ in range(300)])
    Job.objects.update(state=JobState.COMPLETED)
    expire(Job.objects.create(name="basic"))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    with CaptureQueriesContext(connection) as queries:
        assert rescue_expired_leases() == 1
    # The statement that looks for expired leases; its UPDATEs then go by primary key.
    (search,) = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(explain + search)
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "dbq_job_lease_idx" in plan, (search, plan)


def test_heartbeat_renews_the_leases_the_worker_holds():
    job = Job.objects.create(name="basic")
    worker = Worker("default", lease_seconds=60)
    worker._claim(1)
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())
    assert Heartbeat(worker).beat() == 1
    job.refresh_from_db()
    assert job.lease_expires_at > timezone.now() + datetime.timedelta(seconds=50)


def test_heartbeat_does_not_renew_a_lease_another_worker_took():
    job = Job.objects.create(name="basic")
    worker = Worker("default")
    worker._claim(1)
    Job.objects.filter(pk=job.pk).update(lease_owner="other")
    assert Heartbeat(worker).beat() == 0


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


def test_step_of_a_job_cancelled_while_running_does_not_advance_it():
    job = Job.objects.create(name="three_steps")
    worker = Worker("default")
    (claimed,) = worker._claim(1)
    Job.objects.filter(pk=job.pk).update(state=JobState.STOPPING)
    from django_dbq.executor import run_step

    assert run_step(claimed, worker.lease, keep=True).kind == "cancelled"
    job.refresh_from_db()
    assert (job.state, job.step, job.workspace) == (JobState.CANCELLED, 0, {})


def test_run_job_runs_every_step_inline():
    job = run_job(Job.objects.create(name="three_steps"))
    assert job.state == JobState.COMPLETED and job.workspace == {"count": 3}


@override_settings(DBQ_MAX_RESCUES=0)
def test_job_failed_by_the_rescuer_runs_its_failure_hook_and_sends_job_failed():
    from django_dbq import signals

    job = Job.objects.create(name="failing")
    expire(job)
    sent = []
    receiver = lambda sender, job, error, **kw: sent.append(type(error).__name__)  # noqa: E731
    signals.job_failed.connect(receiver)
    try:
        rescue_expired_leases()
    finally:
        signals.job_failed.disconnect(receiver)
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert [call[0] for call in tasks.CALLS] == ["failure_hook"]
    assert job.workspace == {"failure": job.last_error}
    assert sent == ["StepLost"]


def test_a_signal_receiver_that_raises_does_not_stop_the_worker(caplog):
    from django_dbq import signals

    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    signals.step_started.connect(broken)
    signals.job_completed.connect(broken)
    try:
        job = Job.objects.create(name="three_steps")
        drain()
    finally:
        signals.step_started.disconnect(broken)
        signals.job_completed.disconnect(broken)
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert "signal_receiver_failed" in caplog.text
