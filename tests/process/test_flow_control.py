"""Concurrency keys and rate limits hold across real `manage.py worker` processes.

The workers run tests/settings_limits.py's JOBS; each step records when it started and ended
(tests.models.StepSpan, or StepRun for the slow job), and the tests replay those times.
"""

from __future__ import annotations

import datetime
import signal
import time
from collections import defaultdict

import pytest

from django_dbq.models import Job, JobState
from tests.models import StepRun, StepSpan
from tests.process.drain_checks import wait_for_clean_exits
from tests.settings_limits import JOBS as LIMITED

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

LIMITS = {"DJANGO_SETTINGS_MODULE": "tests.settings_limits"}
WORKER = ("worker", "--burst", "--poll-interval", "0.05", "--no-scheduler")
WAIT = 60


@pytest.fixture(autouse=True)
def limited_jobs(settings):
    settings.JOBS = LIMITED


def most_running_at_once(spans: list[StepSpan]) -> int:
    """The most spans that overlap at any instant (one that ends as another starts: no overlap)."""
    events = sorted(
        [(span.started, 1) for span in spans] + [(span.ended, -1) for span in spans],
        key=lambda event: (event[0], event[1]),  # an end before a start at the same instant
    )
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def most_starts_in_a_second(starts: list[datetime.datetime]) -> int:
    """The most starts within any window of one second."""
    starts = sorted(starts)
    most = first = 0
    for last, start in enumerate(starts):
        while start - starts[first] >= datetime.timedelta(seconds=1):
            first += 1
        most = max(most, last - first + 1)
    return most


def test_the_spans_helpers_count_what_they_say():
    t = datetime.datetime(2026, 1, 1)
    s = datetime.timedelta(seconds=1)
    spans = [StepSpan(started=t, ended=t + 2 * s), StepSpan(started=t + s, ended=t + 3 * s)]
    assert most_running_at_once(spans) == 2
    assert most_running_at_once([StepSpan(started=t, ended=t + s)] * 1) == 1
    assert most_starts_in_a_second([t, t + s / 2, t + s, t + 2 * s]) == 2


def test_four_workers_never_run_more_than_two_steps_of_an_account_at_once(manage):
    jobs = 200
    workers = 4
    Job.objects.enqueue_many(
        [
            # Each account's jobs one after another in claim order: without the limit, every
            # worker would run the first account's jobs at once.
            Job(name="two_per_account", workspace={"account": i * 5 // jobs, "seconds": 0.05})
            for i in range(jobs)
        ]
    )
    processes = [manage(*WORKER, "--batch-size", "5", env=LIMITS) for _ in range(workers)]
    wait_for_clean_exits(processes)

    assert Job.objects.filter(state=JobState.COMPLETED).count() == jobs
    by_key = defaultdict(list)
    for span in StepSpan.objects.all():
        by_key[span.key].append(span)
    assert sorted(by_key) == ["0", "1", "2", "3", "4"]
    assert sum(map(len, by_key.values())) == jobs
    assert max(most_running_at_once(spans) for spans in by_key.values()) <= 2
    # Each job was claimed once: waiting for a slot cost no attempt.
    assert set(Job.objects.values_list("attempts", flat=True)) == {1}


def test_three_workers_start_no_more_than_twenty_steps_in_any_second(manage):
    jobs = 80
    Job.objects.enqueue_many([Job(name="twenty_per_second") for _ in range(jobs)])
    processes = [manage(*WORKER, env=LIMITS) for _ in range(3)]
    wait_for_clean_exits(processes)

    assert Job.objects.filter(state=JobState.COMPLETED).count() == jobs
    assert StepSpan.objects.count() == jobs  # each step ran once
    # A step starts when a worker claims it (started_at, the time the rate limit counts; the
    # task's own first line runs a moment later, later still on a loaded machine).
    starts = list(Job.objects.values_list("started_at", flat=True))
    assert most_starts_in_a_second(starts) <= 20


def wait_for(condition, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def started(job: Job):
    return lambda: StepRun.objects.filter(job_id=job.pk, step="start").exists()


def test_a_sigkilled_worker_frees_its_slot_when_its_lease_expires(manage):
    short_lease = {**LIMITS, "DBQ_LEASE_SECONDS": "1"}
    first = Job.objects.create(name="one_per_account", workspace={"account": 1, "seconds": 60})
    holder = manage("worker", "--poll-interval", "0.05", env=short_lease)
    wait_for(started(first), "the first job to start")
    # Ahead of the first job in claim order, so it is what the freed slot runs.
    second = Job.objects.create(
        name="one_per_account", workspace={"account": 1, "seconds": 0}, priority=1
    )
    waiter = manage("worker", "--poll-interval", "0.05", env=short_lease)
    # Several leases long, renewed by the holder's heartbeat: the account's one slot stays taken.
    time.sleep(3)
    assert not started(second)()

    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=WAIT)

    # Its lease expires, the rescuer requeues the first job: the slot is free again.
    wait_for(
        lambda: StepRun.objects.filter(job_id=second.pk, step="end").exists(),
        "the second job to run in the freed slot",
    )
    first.refresh_from_db()
    assert first.rescues == 1
    second.refresh_from_db()
    assert (second.state, second.attempts) == (JobState.COMPLETED, 1)
    waiter.send_signal(signal.SIGKILL)
    waiter.communicate(timeout=WAIT)
