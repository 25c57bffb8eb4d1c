"""Operators' actions on jobs: cancel, retry and run now, as guarded UPDATEs."""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from django_dbq.executor import Lease, run_step
from django_dbq.models import Job, JobState
from django_dbq.testing import drain, run_job
from tests import tasks

pytestmark = pytest.mark.django_db

LEASE = Lease("worker-1", 60)


def claimed(job: Job) -> Job:
    """The job as a worker holds it while its step runs."""
    Job.objects.filter(pk=job.pk).update(
        state=JobState.PROCESSING,
        lease_owner=LEASE.owner,
        lease_expires_at=LEASE.until(timezone.now()),
        attempts=1,
    )
    job.refresh_from_db()
    return job


def failed(name: str = "failing", **fields) -> Job:
    """A job run until it failed for good (every retry included)."""
    job = Job.objects.create(name=name, **fields)
    for _ in range(10):
        job = run_job(job)
        if job.state != JobState.READY:
            break
    assert job.state == JobState.FAILED
    return job


def failed_unique(user: int) -> Job:
    """A unique job as the executor leaves it when it fails: FAILED, its key released."""
    job = Job.objects.create(name="unique_by_user", workspace={"user": user})
    Job.objects.filter(pk=job.pk).update(state=JobState.FAILED, unique_key=None)
    job.refresh_from_db()
    return job


def in_state(state: str, name: str = "basic", **fields) -> Job:
    job = Job.objects.create(name=name, **fields)
    Job.objects.filter(pk=job.pk).update(state=state)
    job.refresh_from_db()
    return job


# -- cancel -------------------------------------------------------------------------------------


def test_cancel_makes_waiting_jobs_cancelled_at_once():
    new = Job.objects.create(name="basic")
    ready = in_state(JobState.READY)
    assert Job.objects.filter(pk__in=[new.pk, ready.pk]).cancel() == 2
    for job in (new, ready):
        job.refresh_from_db()
        assert job.state == JobState.CANCELLED
        assert job.finished_at is not None


def test_cancelled_job_is_never_claimed():
    Job.objects.create(name="basic").cancel()
    assert drain() == 0
    assert tasks.CALLS == []


def test_cancel_frees_the_key_of_a_unique_job():
    job = Job.objects.create(name="unique_by_user", workspace={"user": 1})
    job.cancel()
    assert job.unique_key is None
    Job.objects.create(name="unique_by_user", workspace={"user": 1})


def test_cancel_marks_a_running_job_stopping_and_keeps_its_lease():
    job = claimed(Job.objects.create(name="basic"))
    assert job.cancel() == 1
    assert job.state == JobState.STOPPING
    assert job.finished_at is None
    job.refresh_from_db()
    assert job.lease_owner == LEASE.owner and job.lease_expires_at is not None


def test_running_job_becomes_cancelled_when_its_step_ends_and_its_result_is_discarded():
    job = claimed(Job.objects.create(name="three_steps", workspace={"count": 0}))
    Job.objects.filter(pk=job.pk).cancel()
    outcome = run_step(job, LEASE)
    job.refresh_from_db()
    assert outcome.kind == "cancelled"
    assert job.state == JobState.CANCELLED
    assert (job.step, job.workspace) == (0, {"count": 0})


def test_a_job_cancelled_during_a_step_runs_no_further_step(settings):
    settings.JOBS = {
        **settings.JOBS,
        "cancel_in_step_two": [
            "tests.tasks.record_step",
            "tests.tasks.cancel_own_job",
            "tests.tasks.record_step",
            "tests.tasks.record_step",
        ],
    }
    settings.DBQ_OUTCOME_DELAY = 0  # every outcome written (and checked) before the next step
    job = Job.objects.create(name="cancel_in_step_two")
    drain()
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert job.workspace == {"ran": [0]}  # step 2's result discarded, steps 3 and 4 never ran


def test_cancel_leaves_finished_jobs_alone():
    done = run_job(Job.objects.create(name="basic"))
    gone = failed()
    assert Job.objects.filter(pk__in=[done.pk, gone.pk]).cancel() == 0
    assert done.cancel() == 0
    assert set(Job.objects.values_list("state", flat=True)) == {
        JobState.COMPLETED,
        JobState.FAILED,
    }


def test_cancel_counts_only_rows_it_changed():
    Job.objects.create(name="basic")
    in_state(JobState.STOPPING)
    in_state(JobState.COMPLETED)
    assert Job.objects.all().cancel() == 1


# -- retry --------------------------------------------------------------------------------------


def test_retry_makes_a_failed_job_ready_with_fresh_attempts():
    job = failed("retrying", workspace={"succeed_on": 99})
    assert job.attempts == 3
    assert Job.objects.filter(pk=job.pk).retry() == 1
    job.refresh_from_db()
    assert job.state == JobState.READY
    assert (job.attempts, job.rescues, job.run_after, job.finished_at) == (0, 0, None, None)


def test_retry_keeps_the_last_error_until_the_step_succeeds():
    job = failed("retrying", workspace={"succeed_on": 99})
    Job.objects.filter(pk=job.pk).retry()
    job.refresh_from_db()
    assert job.last_error == "builtins.RuntimeError: attempt 3 failed"
    Job.objects.filter(pk=job.pk).update(workspace={"succeed_on": 1})
    job = run_job(job)
    assert job.state == JobState.COMPLETED
    assert (job.last_error, job.traceback) == ("", "")


def test_retry_resumes_from_the_step_that_failed():
    job = Job.objects.create(name="atomic")
    job = run_job(job)
    assert (job.state, job.step) == (JobState.FAILED, 1)
    Job.objects.filter(pk=job.pk).retry()
    job.refresh_from_db()
    assert (job.step, job.next_task) == (1, "tests.tasks.fail")


def test_retry_runs_a_cancelled_job_from_where_it_stopped():
    job = Job.objects.create(name="three_steps", workspace={"count": 0})
    Job.objects.filter(pk=job.pk).update(step=1)
    job.cancel()
    assert Job.objects.filter(pk=job.pk).retry() == 1
    assert drain() == 2
    job.refresh_from_db()
    assert (job.state, job.workspace) == (JobState.COMPLETED, {"count": 2})


def test_retry_leaves_active_and_completed_jobs_alone():
    waiting = Job.objects.create(name="basic", run_after=timezone.now() + datetime.timedelta(1))
    running = claimed(Job.objects.create(name="basic"))
    done = run_job(Job.objects.create(name="basic"))
    assert Job.objects.all().retry() == 0
    for job, state in ((waiting, JobState.NEW), (running, JobState.PROCESSING)):
        job.refresh_from_db()
        assert job.state == state
    done.refresh_from_db()
    assert done.state == JobState.COMPLETED


def test_retry_gives_a_unique_job_its_key_back():
    job = failed_unique(7)
    assert job.unique_key is None
    Job.objects.filter(pk=job.pk).retry()
    job.refresh_from_db()
    assert job.state == JobState.READY and job.unique_key is not None
    with pytest.raises(Exception, match="already ready"):
        Job.objects.create(name="unique_by_user", workspace={"user": 7})


def test_retry_skips_a_unique_job_whose_key_an_active_job_holds():
    old = failed_unique(7)
    active = Job.objects.create(name="unique_by_user", workspace={"user": 7})
    other = failed_unique(8)
    duplicates: list[Job] = []
    assert Job.objects.filter(pk__in=[old.pk, other.pk]).retry(duplicates) == 1
    assert [job.pk for job in duplicates] == [old.pk]
    old.refresh_from_db()
    other.refresh_from_db()
    assert (old.state, old.unique_key) == (JobState.FAILED, None)
    assert other.state == JobState.READY
    assert active.state == JobState.NEW


def test_a_retry_collision_leaves_the_surrounding_transaction_usable():
    old = failed_unique(7)
    Job.objects.create(name="unique_by_user", workspace={"user": 7})
    with transaction.atomic():
        assert Job.objects.filter(pk=old.pk).retry() == 0
        assert Job.objects.count() == 2


# -- run now ------------------------------------------------------------------------------------


def test_run_now_clears_run_after_of_waiting_jobs():
    later = timezone.now() + datetime.timedelta(days=1)
    job = Job.objects.create(name="basic", run_after=later)
    assert drain() == 0
    assert Job.objects.filter(pk=job.pk).run_now() == 1
    assert drain() == 1


def test_run_now_skips_jobs_without_run_after_and_finished_jobs():
    later = timezone.now() + datetime.timedelta(days=1)
    Job.objects.create(name="basic")
    in_state(JobState.FAILED, run_after=later)
    claimed(Job.objects.create(name="basic", run_after=later))
    assert Job.objects.all().run_now() == 0
