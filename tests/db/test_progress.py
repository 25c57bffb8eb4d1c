"""job.report_progress(): validated, rate-limited, written under the lease, the last one kept."""

import pytest

from django_dbq import running, signals
from django_dbq.executor import run_step
from django_dbq.models import Job, JobState
from django_dbq.testing import drain, run_job
from tests.db.test_job_actions import LEASE
from tests.db.test_job_actions import claimed as held

pytestmark = pytest.mark.django_db


def claimed(name="basic", **fields) -> Job:
    job = held(Job.objects.create(name=name, **fields))
    job._dbq_lease_owner = LEASE.owner  # as run_step binds it
    return job


def stored(job):
    return Job.objects.values_list("progress_done", "progress_total", "progress_message").get(
        pk=job.pk
    )


def test_a_first_report_is_written_at_once():
    job = claimed()
    job.report_progress(3, 10, "copying")
    assert stored(job) == (3, 10, "copying")
    assert job.progress_percent == 30


def test_reports_within_the_interval_are_held_back_and_the_step_end_writes_the_last(
    django_assert_num_queries,
):
    job = claimed()
    job.report_progress(1, 10)
    with django_assert_num_queries(0):
        for done in range(2, 8):
            job.report_progress(done, 10)
    assert stored(job) == (1, 10, "")
    with django_assert_num_queries(1):
        running.step_ended(job)
    assert stored(job) == (7, 10, "")


def test_a_report_of_done_equal_to_total_is_written_at_once():
    job = claimed()
    job.report_progress(1, 4)
    job.report_progress(4, 4, "done")
    assert stored(job) == (4, 4, "done")


def test_a_report_after_the_interval_is_written(monkeypatch):
    job = claimed()
    clock = iter([100.0, 100.2, 100.7])
    monkeypatch.setattr(running.time, "monotonic", lambda: next(clock))
    job.report_progress(1)
    job.report_progress(2)  # 0.2 s later: held back
    assert stored(job) == (1, None, "")
    job.report_progress(3)  # 0.7 s after the write
    assert stored(job) == (3, None, "")


def test_a_worker_that_lost_its_lease_writes_no_progress():
    job = claimed()
    Job.objects.filter(pk=job.pk).update(lease_owner="worker-2")
    job.report_progress(5, 10, "mine")
    assert stored(job) == (None, None, "")
    job.report_progress(6, 10, "still mine?")
    running.step_ended(job)
    assert stored(job) == (None, None, "")


def test_a_cancelled_job_writes_no_progress():
    job = claimed()
    Job.objects.filter(pk=job.pk).cancel()
    job.report_progress(1, 2)
    assert stored(job) == (None, None, "")


def test_the_last_report_of_a_step_is_written_with_its_outcome():
    job = Job.objects.create(name="progress_fast")
    run_job(job)
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert (job.progress_done, job.progress_total, job.progress_message) == (100, None, "fast")


def test_progress_stays_after_the_step_and_the_signal_tells_each_write():
    seen = []

    def receiver(sender, job, done, total, message, **kwargs):
        seen.append((done, total, message))

    signals.job_progress.connect(receiver)
    try:
        job = Job.objects.create(name="progress", workspace={"n": 2})
        drain()
    finally:
        signals.job_progress.disconnect(receiver)
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert stored(job) == (2, 2, "item 2")  # kept by the next step, which reported nothing
    assert seen[0] == (0, 2, "item 0") and seen[-1] == (2, 2, "item 2")


def test_a_retried_step_keeps_the_progress_of_the_failed_attempt():
    job = claimed("retrying")
    job.report_progress(7, 9, "before the failure")
    assert run_step(job, LEASE).kind == "retrying"
    job.refresh_from_db()
    assert job.state == JobState.READY
    assert stored(job) == (7, 9, "before the failure")


def test_a_tasks_save_does_not_write_progress():
    job = claimed()
    job.progress_done = 99
    job.save()
    assert stored(job) == (None, None, "")


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((-1,), ValueError, "done must be from 0"),
        ((1.5,), TypeError, "done must be a whole number"),
        ((True,), TypeError, "done must be a whole number"),
        ((1, -2), ValueError, "total must be from 0"),
        ((3, 2), ValueError, r"done \(3\) is more than total \(2\)"),
        ((1, 2, None), TypeError, "message must be a string"),
        ((1, 2, "x" * 256), ValueError, "at most 255 allowed"),
        ((2**63, None), ValueError, "done must be from 0 to 2\\*\\*63-1"),
    ],
)
def test_bad_arguments_are_refused_naming_the_problem(args, error, message):
    job = claimed()
    with pytest.raises(error, match=message):
        job.report_progress(*args)
    assert stored(job) == (None, None, "")
