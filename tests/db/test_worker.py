"""The worker runs jobs step by step, with django-db-queue 3.x hook semantics."""

import datetime

import pytest
from django.db import OperationalError
from django.utils import timezone

from django_dbq import executor
from django_dbq.models import Job, JobState
from django_dbq.testing import drain
from django_dbq.worker import Worker
from tests import tasks

pytestmark = pytest.mark.django_db


def test_steps_run_in_order_and_share_the_workspace():
    job = Job.objects.create(name="three_steps", workspace={"count": 5})
    assert drain() == 3
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert job.workspace == {"count": 8}
    assert (job.next_task, job.step, job.attempts) == ("", 3, 1)
    assert job.finished_at is not None and job.started_at is not None


def test_one_step_at_a_time_leaves_the_job_ready_between_steps():
    job = Job.objects.create(name="three_steps")
    worker = Worker("default")
    worker._process_job()
    job.refresh_from_db()
    assert (job.state, job.step, job.workspace) == (JobState.READY, 1, {"count": 1})
    assert job.next_task == "tests.tasks.add_one"


def test_failed_step_stores_error_and_traceback_and_runs_failure_hook():
    job = Job.objects.create(name="failing")
    drain()
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert job.last_error == "builtins.ValueError: boom"
    assert "raise ValueError" in job.traceback
    assert job.workspace == {"failure": "boom"}
    assert tasks.CALLS == [("failure_hook", "failing", "ValueError('boom')")]


def test_hooks_run_in_the_documented_order():
    Job.objects.create(name="hooked")
    tasks.CALLS.clear()
    drain()
    assert [call[0] for call in tasks.CALLS] == [
        "pre_task_hook",
        "task",
        "post_task_hook",
        "pre_task_hook",
        "task",
        "post_task_hook",
    ]


def test_failing_pre_hook_fails_the_step_and_the_task_does_not_run():
    job = Job.objects.create(name="hooked", workspace={"fail_pre": True})
    tasks.CALLS.clear()
    drain()
    job.refresh_from_db()
    assert job.state == JobState.FAILED and "pre hook refused" in job.last_error
    assert [call[0] for call in tasks.CALLS] == ["pre_task_hook", "failure_hook", "post_task_hook"]


def test_failing_post_hook_is_logged_and_does_not_fail_the_job(caplog):
    job = Job.objects.create(name="hooked", workspace={"fail_post": True})
    drain()
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert "post_task_hook_failed" in caplog.text


def test_higher_priority_runs_first_then_oldest():
    low = Job.objects.create(name="basic", priority=0)
    high = Job.objects.create(name="basic", priority=10)
    older = Job.objects.create(name="basic", priority=0)
    tasks.CALLS.clear()
    order = []
    from django_dbq import signals

    def record(sender, job, **kwargs):
        order.append(job.pk)

    signals.step_started.connect(record)
    try:
        drain()
    finally:
        signals.step_started.disconnect(record)
    assert order == [high.pk, low.pk, older.pk]


def test_job_waits_for_its_run_after():
    job = Job.objects.create(name="basic", run_after=timezone.now() + datetime.timedelta(hours=1))
    assert drain() == 0
    Job.objects.filter(pk=job.pk).update(run_after=timezone.now() - datetime.timedelta(seconds=1))
    assert drain() == 1


def test_worker_only_takes_its_own_queue():
    Job.objects.create(name="basic", queue_name="mail")
    assert drain("default") == 0
    assert drain("mail") == 1


def test_unknown_job_name_after_a_deploy_fails_that_job_and_the_worker_goes_on():
    gone = Job.objects.create(name="basic")
    Job.objects.filter(pk=gone.pk).update(name="removed_job")
    fine = Job.objects.create(name="basic")
    drain()
    gone.refresh_from_db()
    fine.refresh_from_db()
    assert gone.state == JobState.FAILED
    assert "unknown job name 'removed_job'" in gone.last_error
    assert fine.state == JobState.COMPLETED


def test_task_path_not_declared_for_the_job_is_never_imported():
    job = Job.objects.create(name="basic")
    Job.objects.filter(pk=job.pk).update(next_task="os.system", step=5)
    drain()
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert "UndeclaredTaskError" in job.last_error and "'os.system'" in job.last_error


def test_a_job_whose_task_list_changed_in_flight_fails_instead_of_rewinding(settings):
    add, record = "tests.tasks.add_one", "tests.tasks.record"
    settings.JOBS = {**settings.JOBS, "store_twice": [add, record, add, record]}
    job = Job.objects.create(name="store_twice")
    Job.objects.filter(pk=job.pk).update(step=3, next_task=record)
    # A deploy inserts a step before the last one while the job waits to run it.
    settings.JOBS = {**settings.JOBS, "store_twice": [add, record, add, add, record]}
    drain()
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert "UndeclaredTaskError" in job.last_error and "at step 3" in job.last_error
    assert tasks.CALLS == []  # no earlier step ran again


def test_burst_worker_exits_when_the_queue_is_empty():
    Job.objects.create(name="three_steps")
    worker = Worker("default", burst=True)
    worker.run()
    assert worker.steps_run == 3
    assert Job.objects.get().state == JobState.COMPLETED


def test_max_jobs_stops_the_worker_and_leaves_the_rest_waiting():
    for _ in range(3):
        Job.objects.create(name="basic")
    worker = Worker("default", burst=True, max_jobs=2)
    worker.run()
    assert worker.steps_run == 2
    states = sorted(Job.objects.values_list("state", flat=True))
    assert states == [JobState.COMPLETED, JobState.COMPLETED, JobState.NEW]


def test_max_jobs_counts_steps_and_hands_a_kept_job_back():
    job = Job.objects.create(name="three_steps")
    Worker("default", burst=True, max_jobs=2).run()
    job.refresh_from_db()
    assert (job.state, job.step, job.workspace) == (JobState.READY, 2, {"count": 2})


def test_a_step_whose_lease_was_taken_over_writes_nothing(caplog):
    job = Job.objects.create(name="basic")
    worker = Worker("default")
    (claimed,) = worker._claim(1)
    # Meanwhile the lease expired and another worker took the job over.
    Job.objects.filter(pk=job.pk).update(lease_owner="someone-else")
    from django_dbq.executor import run_step

    outcome = run_step(claimed, worker.lease)
    job.refresh_from_db()
    assert outcome.kind == "lease_lost"
    assert (job.state, job.lease_owner, job.workspace) == (JobState.PROCESSING, "someone-else", {})


def test_released_jobs_go_back_to_waiting():
    job = Job.objects.create(name="basic")
    worker = Worker("default")
    claimed = worker._claim(5)
    assert worker.release(claimed) == 1
    job.refresh_from_db()
    assert (job.state, job.attempts) == (JobState.NEW, 0)
    assert not worker.leases


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
        (1, JobState.COMPLETED),  # handed back, then run in one attempt
    }
    assert not unstarted.filter(state=JobState.PROCESSING).exists()


@pytest.mark.django_db(transaction=True)
def test_rate_limit_spaces_steps_even_when_new_jobs_wake_the_worker():
    import time

    from django_dbq import signals

    Job.objects.create(name="basic")
    started = []

    def on_start(sender, job, **kwargs):
        started.append(time.monotonic())
        if len(started) == 1:
            # Committed at once: on PostgreSQL this NOTIFY arrives during the rate-limit wait.
            Job.objects.create(name="basic")

    signals.step_started.connect(on_start)
    try:
        Worker("default", rate_limit_in_seconds=0.4, burst=True).run()
    finally:
        signals.step_started.disconnect(on_start)
    assert len(started) == 2
    assert started[1] - started[0] >= 0.39


@pytest.mark.django_db(transaction=True)
def test_a_job_cancelled_while_waiting_in_a_claimed_batch_is_not_started():
    from django_dbq.periodic.heartbeat import Heartbeat

    Job.objects.enqueue_many([Job(name="basic") for _ in range(2)])
    worker = Worker(burst=True, scheduler=False)
    worker.batch_size = 2
    claim = worker._claim

    def claim_then_cancel_the_second(limit):
        jobs = claim(limit)
        Job.objects.filter(pk=jobs[1].pk).cancel()  # STOPPING: the lease is still held
        Heartbeat(worker).beat()  # the heartbeat notices before the job starts
        return jobs

    worker._claim = claim_then_cancel_the_second
    assert worker.run_batch() == 1

    assert sorted(Job.objects.values_list("state", flat=True)) == sorted(
        [JobState.COMPLETED, JobState.CANCELLED]
    )
    assert tasks.CALLS == [("task", "basic", "tests.tasks.record")]
