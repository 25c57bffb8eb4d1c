"""A cancel that commits while a claimed job waits for its step wins: the step never starts."""

import pytest
from django.db import connection

from django_dbq import worker as worker_module
from django_dbq.models import Job, JobState
from django_dbq.worker import Worker
from tests import tasks

pytestmark = pytest.mark.django_db


def test_a_job_cancelled_while_it_waited_in_a_claimed_batch_never_starts(settings):
    settings.DBQ_CLAIM_BATCH_SIZE = 10
    first = Job.objects.create(name="cancels_the_others", priority=1)
    waiting = [Job.objects.create(name="basic") for _ in range(2)]
    worker = Worker("default", batch_size=10)
    worker.batch_size = 10  # claim all three at once, as a worker whose steps are fast does

    worker.run_batch()

    assert Job.objects.get(pk=first.pk).state == JobState.COMPLETED
    assert [call for call in tasks.CALLS if call[0] == "task"] == []  # no step of theirs ran
    assert {Job.objects.get(pk=job.pk).state for job in waiting} == {JobState.CANCELLED}


def test_a_job_cancelled_during_a_long_step_starts_no_further_step(settings):
    settings.DBQ_OUTCOME_DELAY = 60  # its step's outcome waits in the buffer
    job = Job.objects.create(name="slow_then_more", workspace={"seconds": 0.05})
    worker = Worker("default")

    worker.run_batch()

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert [call for call in tasks.CALLS if call[0] == "task"] == []  # step 2 never started


def test_a_chain_of_fast_steps_stops_within_the_recheck_window_of_a_cancel(settings):
    settings.DBQ_OUTCOME_DELAY = 60  # outcomes wait in the buffer: only the re-check can see it
    job = Job.objects.create(name="fast_chain")
    worker = Worker("default")

    worker.run_batch()

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    steps = [step for name, step in tasks.CALLS if name == "short_step"]
    # Cancelled during step 2 (6 ms each): the worker looks again once 10 ms have passed since
    # the claim, so step 3 at most starts, never steps 4 to 10.
    assert steps[:2] == [0, 1] and len(steps) <= 3, steps


def test_with_a_recheck_before_every_step_a_cancel_of_a_waiting_job_always_wins(
    settings, monkeypatch
):
    monkeypatch.setattr(worker_module, "RECHECK_SECONDS", 3600)  # only the per-step look is left
    settings.DBQ_RECHECK_BEFORE_STEP = True
    first = Job.objects.create(name="cancels_the_others", priority=1)
    waiting = [Job.objects.create(name="basic") for _ in range(2)]
    worker = Worker("default", batch_size=10)
    worker.batch_size = 10

    worker.run_batch()

    assert Job.objects.get(pk=first.pk).state == JobState.COMPLETED
    assert [call for call in tasks.CALLS if call[0] == "task"] == []
    assert {Job.objects.get(pk=job.pk).state for job in waiting} == {JobState.CANCELLED}


def test_with_a_recheck_before_every_step_a_chain_stops_at_the_step_after_a_cancel(
    settings, monkeypatch
):
    monkeypatch.setattr(worker_module, "RECHECK_SECONDS", 3600)
    settings.DBQ_RECHECK_BEFORE_STEP = True
    settings.DBQ_OUTCOME_DELAY = 60
    job = Job.objects.create(name="fast_chain")

    Worker("default").run_batch()

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert [step for name, step in tasks.CALLS if name == "short_step"] == [0, 1]


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_cancel_notice_stops_a_waiting_job_at_once(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("cancel notices are sent by PostgreSQL's trigger only")
    # Only the notice can tell the worker: its periodic look would come an hour later.
    monkeypatch.setattr(worker_module, "RECHECK_SECONDS", 3600)
    first = Job.objects.create(name="cancels_the_others_elsewhere", priority=1)
    waiting = [Job.objects.create(name="basic") for _ in range(3)]
    worker = Worker("default", batch_size=10)
    worker.batch_size = 10

    worker.run_batch()

    assert Job.objects.get(pk=first.pk).state == JobState.COMPLETED
    assert [call for call in tasks.CALLS if call[0] == "task"] == []
    assert {Job.objects.get(pk=job.pk).state for job in waiting} == {JobState.CANCELLED}
