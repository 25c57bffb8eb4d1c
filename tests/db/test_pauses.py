"""Paused queues: the claim of every vendor skips them; workers stop chains; resume restarts."""

import datetime
from unittest import mock

import pytest
from django.utils import timezone

from django_dbq import pauses
from django_dbq.engine import engine_for
from django_dbq.models import Job, JobState, QueuePause
from django_dbq.testing import drain
from django_dbq.worker import Worker

pytestmark = pytest.mark.django_db


def claim(queue="default", limit=10, owner="w1"):
    now = timezone.now()
    return engine_for().claim(queue, owner, limit, now, now + datetime.timedelta(seconds=30))


def test_a_paused_queue_claims_nothing():
    Job.objects.create(name="basic")
    pauses.pause("default")
    assert claim() == []
    assert Job.objects.get().state == JobState.NEW


def test_pausing_one_queue_leaves_the_others_claimable():
    other = Job.objects.create(name="basic", queue_name="other")
    Job.objects.create(name="basic")
    pauses.pause("default")
    assert [job.pk for job in claim("other")] == [other.pk]


def test_a_paused_job_name_is_skipped_and_other_jobs_of_its_queue_are_claimed():
    Job.objects.create(name="basic")
    three = Job.objects.create(name="three_steps")
    pauses.pause("default", "basic")
    assert [job.pk for job in claim()] == [three.pk]


def test_a_job_name_paused_in_another_queue_does_not_stop_this_queue():
    job = Job.objects.create(name="basic")
    pauses.pause("other", "basic")
    assert [claimed.pk for claimed in claim()] == [job.pk]


def test_pause_names_match_exactly():
    job = Job.objects.create(name="basic", queue_name="Emails")
    pauses.pause("emails")
    pauses.pause("Emails", "Basic")
    assert [claimed.pk for claimed in claim("Emails")] == [job.pk]


def test_resumed_queue_is_claimed_again():
    job = Job.objects.create(name="basic")
    pauses.pause("default")
    assert pauses.resume("default") is True
    assert [claimed.pk for claimed in claim()] == [job.pk]


def test_resuming_the_queue_keeps_a_job_name_paused_on_its_own():
    Job.objects.create(name="basic")
    pauses.pause("default")
    pauses.pause("default", "basic")
    pauses.resume("default")
    assert claim() == []


def test_pause_twice_and_resume_unpaused_say_so():
    assert pauses.pause("default", by="ops", reason="deploy") is True
    assert pauses.pause("default") is False
    assert pauses.resume("default", "basic") is False
    row = QueuePause.objects.get()
    assert (row.paused_by, row.reason, row.job_name) == ("ops", "deploy", "")


@pytest.mark.parametrize(
    ("queue_name", "job_name", "message"),
    [
        ("", "", "queue name must not be empty"),
        ("   ", "", "queue name must not be empty"),
        ("q" * 101, "", "at most 100 allowed"),
        ("default", "j" * 101, "job name is 101 characters long"),
        (None, "", "queue name must be a string"),
    ],
)
def test_bad_names_are_refused_naming_the_problem(queue_name, job_name, message):
    with pytest.raises(pauses.PauseError, match=message):
        pauses.pause(queue_name, job_name)
    assert not QueuePause.objects.exists()


def test_drain_of_a_paused_queue_runs_nothing_until_resumed():
    job = Job.objects.create(name="basic")
    pauses.pause("default")
    assert drain() == 0
    pauses.resume("default")
    assert drain() == 1
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED


def test_a_chained_step_does_not_start_once_the_queue_is_paused():
    job = Job.objects.create(name="three_steps")
    worker = Worker("default", worker_id="w1")
    real_stops = worker.pauses.stops

    def pause_after_first_step(job_name):
        if not QueuePause.objects.exists():
            pauses.pause("default")
            worker.pauses._read_at = None  # the watch reads again at once (no 1 s wait)
        return real_stops(job_name)

    with mock.patch.object(worker.pauses, "stops", side_effect=pause_after_first_step):
        assert worker.run_batch() == 1
    job.refresh_from_db()
    assert (job.state, job.step, job.workspace["count"]) == (JobState.READY, 1, 1)
    assert job.attempts == 0 and job.lease_owner  # handed back, its step not counted


def test_jobs_waiting_in_a_claimed_batch_are_handed_back_when_the_queue_is_paused():
    first, second = Job.objects.create(name="basic"), Job.objects.create(name="basic")
    worker = Worker("default", worker_id="w1")
    worker.batch_size = 2
    calls = []

    def paused_after_first(job_name):
        calls.append(job_name)
        return len(calls) > 0

    with mock.patch.object(worker.pauses, "stops", side_effect=paused_after_first):
        assert worker.run_batch() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == JobState.COMPLETED
    assert (second.state, second.attempts) == (JobState.NEW, 0)


def test_the_pause_watch_reads_at_most_once_per_interval(django_assert_num_queries):
    watch = pauses.PauseWatch("default", interval=60)
    with django_assert_num_queries(1):
        assert watch.stops("basic") is False
        pauses_now = [watch.stops("basic") for _ in range(5)]
    assert pauses_now == [False] * 5


def test_a_claim_tells_the_watch_nothing_was_paused(django_assert_num_queries):
    watch = pauses.PauseWatch("default", interval=60)
    watch.claimed()
    with django_assert_num_queries(0):
        assert watch.stops("basic") is False
