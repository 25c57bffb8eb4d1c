"""Lease renewal and rescue never wait on a job row another transaction has locked.

An atomic step that saved its job holds that row locked until the step commits; so may an
operator's long transaction. A renewal that waited on it would hold up every other lease of the
worker (or of the whole pool) until then, and those leases would lapse: their steps would be
rescued and run a second time beside the first.
"""

import datetime
import threading

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from django_dbq.models import Job, JobState
from django_dbq.periodic.heartbeat import Heartbeat
from django_dbq.periodic.rescue import rescue_expired_leases
from django_dbq.worker import Worker

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="SQLite locks the whole database, not rows: nobody can rescue meanwhile either",
    ),
]


class RowLock:
    """Holds one job's row locked from another connection until released (at most 10 s)."""

    def __init__(self, job: Job):
        self.job = job
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        try:
            with transaction.atomic():
                Job.objects.select_for_update().get(pk=self.job.pk)
                self.locked.set()
                self.release.wait(10)
        finally:
            connections.close_all()

    def __enter__(self) -> "RowLock":
        self.thread.start()
        assert self.locked.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(10)


def finishes_within(seconds: float, call):
    """Run ``call`` on a thread; its result, or fail if it is still waiting after ``seconds``."""
    result: list = []
    thread = threading.Thread(
        target=lambda: (result.append(call()), connections.close_all()), daemon=True
    )
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s (on a row lock?)"
    return result[0]


def soon() -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=1)


def test_renewal_skips_a_locked_row_and_renews_the_others():
    locked, free = Job.objects.create(name="basic"), Job.objects.create(name="basic")
    worker = Worker("default", lease_seconds=60)
    worker._claim(2)
    Job.objects.update(lease_expires_at=soon())
    heartbeat = Heartbeat(worker)

    with RowLock(locked):
        renewed = finishes_within(3, heartbeat.beat)

    assert renewed == 1
    free.refresh_from_db()
    assert free.lease_expires_at > soon() + datetime.timedelta(seconds=30)
    assert not worker.leases.is_lost(locked.pk)  # skipped, not lost: it is still ours


def test_a_lease_skipped_for_a_lock_is_renewed_once_the_lock_is_gone():
    locked = Job.objects.create(name="basic")
    worker = Worker("default", lease_seconds=60)
    worker._claim(1)
    Job.objects.update(lease_expires_at=soon())
    heartbeat = Heartbeat(worker)
    with RowLock(locked):
        assert finishes_within(3, heartbeat.beat) == 0

    assert heartbeat.renew_skipped(worker) == 1
    locked.refresh_from_db()
    assert locked.lease_expires_at > soon() + datetime.timedelta(seconds=30)


def test_rescue_skips_a_locked_expired_row_until_the_lock_is_gone():
    job = Job.objects.create(name="basic")
    Job.objects.filter(pk=job.pk).update(
        state=JobState.PROCESSING,
        lease_owner="dead-worker",
        lease_expires_at=timezone.now() - datetime.timedelta(seconds=1),
        attempts=1,
    )

    with RowLock(job):
        assert finishes_within(3, rescue_expired_leases) == 0
        assert Job.objects.get(pk=job.pk).state == JobState.PROCESSING

    assert rescue_expired_leases() == 1
    assert Job.objects.get(pk=job.pk).state == JobState.READY


def test_a_pools_heartbeat_renews_every_thread_while_one_row_is_locked():
    jobs = [Job.objects.create(name="basic") for _ in range(3)]
    workers = [Worker("default", lease_seconds=60, batch_size=1) for _ in range(3)]
    for worker in workers:
        worker._claim(1)
    Job.objects.update(lease_expires_at=soon())
    heartbeat = Heartbeat(*workers)

    with RowLock(jobs[0]):
        assert finishes_within(3, heartbeat.beat) == 2
