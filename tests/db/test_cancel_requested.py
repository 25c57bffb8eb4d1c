"""job.cancel_requested(): a long step notices a cancel cheaply and stops early."""

import pytest

from django_dbq import running
from django_dbq.executor import run_step
from django_dbq.leases import LeaseLedger
from django_dbq.models import Job, JobState
from tests.db.test_job_actions import LEASE
from tests.db.test_job_actions import claimed as held

pytestmark = pytest.mark.django_db


def claimed(name="basic", ledger=None, **fields) -> Job:
    job = held(Job.objects.create(name=name, **fields))
    job._dbq_lease_owner = LEASE.owner
    running.attach(job, ledger)
    return job


def test_a_running_job_is_not_cancelled():
    assert claimed().cancel_requested() is False


def test_an_operators_cancel_is_noticed():
    job = claimed()
    Job.objects.filter(pk=job.pk).cancel()
    assert job.cancel_requested() is True


def test_a_lost_lease_counts_as_a_cancel():
    job = claimed()
    Job.objects.filter(pk=job.pk).update(lease_owner="worker-2")
    assert job.cancel_requested() is True


def test_the_row_is_read_at_most_once_per_interval(django_assert_num_queries):
    job = claimed()
    with django_assert_num_queries(1):
        assert [job.cancel_requested() for _ in range(50)] == [False] * 50


def test_the_lease_ledger_answers_between_reads(django_assert_num_queries):
    ledger = LeaseLedger()
    job = claimed(ledger=ledger)
    ledger.claimed([job.pk])
    assert job.cancel_requested() is False  # the one read of the interval
    ledger.lose([job.pk])  # the heartbeat found it cancelled
    with django_assert_num_queries(0):
        assert job.cancel_requested() is True


def test_a_read_after_the_interval_sees_a_cancel(monkeypatch):
    job = claimed()
    clock = iter([10.0, 10.2, 11.0])
    monkeypatch.setattr(running.time, "monotonic", lambda: next(clock))
    assert job.cancel_requested() is False
    Job.objects.filter(pk=job.pk).cancel()
    assert job.cancel_requested() is False  # 0.2 s later: not read again
    assert job.cancel_requested() is True


def test_a_job_outside_a_worker_asks_its_row():
    job = Job.objects.create(name="basic")
    assert job.cancel_requested() is False
    running.attach(job, None)
    Job.objects.filter(pk=job.pk).cancel()
    assert job.cancel_requested() is True


def test_a_step_that_returns_early_on_a_cancel_ends_the_job_cancelled():
    job = claimed("cancellable")
    Job.objects.filter(pk=job.pk).cancel()  # STOPPING: the step runs on until it notices
    outcome = run_step(job, LEASE)
    job.refresh_from_db()
    assert outcome.kind == "cancelled"
    assert job.state == JobState.CANCELLED and job.step == 0
