"""PostgreSQL wakes idle workers: a trigger NOTIFYs when jobs become runnable; a waiter whose
connection is killed listens again on a new one."""

import datetime
import time

import pytest
from django.db import Error, connection
from django.utils import timezone

from django_dbq import pauses
from django_dbq.models import Job
from django_dbq.notify import CHANNEL, waker_for
from tests.db.test_step_failures import kill_own_session

pytestmark = pytest.mark.django_db(transaction=True)

FENCE = "test-fence"


@pytest.fixture
def listener():
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    import psycopg

    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=s["NAME"],
        autocommit=True,
    ) as raw:
        raw.execute(f"LISTEN {CHANNEL}")
        yield Listener(raw)


class Listener:
    """The payloads a LISTENing connection receives."""

    def __init__(self, raw):
        self.raw = raw

    def __call__(self) -> list[str]:
        """The first notification's payload (waits up to two seconds), in a list."""
        return [n.payload for n in self.raw.notifies(timeout=2, stop_after=1)]

    def all(self) -> list[str]:
        """Every payload of the transactions committed so far, sorted.

        Reads up to a fence notification sent now: PostgreSQL delivers notifications in commit
        order, so whatever arrives before the fence is all there is (no waiting for absence).
        """
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, FENCE])
        payloads = []
        for notification in self.raw.notifies(timeout=10):
            if notification.payload == FENCE:
                return sorted(payloads)
            payloads.append(notification.payload)
        raise AssertionError("the fence notification never arrived")


def test_enqueue_notifies_the_job_queue(listener):
    Job.objects.create(name="basic", queue_name="mail")
    assert listener() == ["mail"]


def test_bulk_enqueue_notifies_too(listener):
    Job.objects.enqueue_many([Job(name="basic") for _ in range(3)])
    assert listener() == ["default"]


def test_a_job_for_later_does_not_notify(listener):
    Job.objects.create(name="basic", run_after=timezone.now() + datetime.timedelta(hours=1))
    assert listener() == []


def test_idle_worker_wakes_on_a_notification():
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    waker = waker_for("default", "default")
    waker.wait(0)  # starts listening
    Job.objects.create(name="basic")
    started = time.monotonic()
    waker.wait(10)
    assert time.monotonic() - started < 5, "the waker slept through the notification"
    waker.close()


def test_idle_postgresql_worker_survives_losing_its_listening_connection():
    # Found by bench/faults.py: the waker read notifications on the DB-API connection, outside
    # Django's error wrapper, and an idle worker whose connection was killed crashed (exit 1).
    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL workers wait on their connection (LISTEN/NOTIFY)")
    waker = waker_for("default", "default")
    waker.wait(0)  # now listening on this connection
    with pytest.raises(Error):
        kill_own_session()

    waker.wait(0.05)  # must not raise: the worker would die

    # Listening again on a new connection: a new job wakes the waiter at once.
    waker.wait(0)
    Job.objects.create(name="basic")
    started = time.monotonic()
    waker.wait(5)
    assert time.monotonic() - started < 4


def test_one_notification_per_queue_however_many_jobs_a_statement_inserts(listener):
    Job.objects.enqueue_many(
        [Job(name="basic") for _ in range(3)]
        + [Job(name="basic", queue_name="mail") for _ in range(2)]
    )
    assert listener.all() == ["default", "mail"]


def test_jobs_an_update_makes_runnable_notify_once_per_queue(listener):
    later = timezone.now() + datetime.timedelta(hours=1)
    Job.objects.enqueue_many(
        [Job(name="basic", run_after=later) for _ in range(2)]
        + [Job(name="basic", queue_name="mail", run_after=later)]
    )
    assert listener.all() == []
    Job.objects.run_now()
    assert listener.all() == ["default", "mail"]


def test_an_update_that_leaves_no_job_runnable_does_not_notify(listener):
    Job.objects.create(name="basic")
    assert listener() == ["default"]
    Job.objects.cancel()
    assert listener.all() == []


def test_resuming_a_queue_wakes_its_workers(listener):
    pauses.pause("emails")
    assert listener.all() == []  # pausing wakes nobody
    pauses.resume("emails")
    assert listener.all() == ["emails"]


def test_resuming_a_queue_that_was_not_paused_wakes_nobody(listener):
    assert pauses.resume("emails") is False
    assert listener.all() == []
