"""PostgreSQL wakes idle workers: a trigger NOTIFYs when jobs become runnable."""

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from django_dbq.models import Job
from django_dbq.notify import CHANNEL, waker_for

pytestmark = pytest.mark.django_db(transaction=True)


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
        yield lambda: [n.payload for n in raw.notifies(timeout=2, stop_after=1)]


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
    import time

    started = time.monotonic()
    waker.wait(10)
    assert time.monotonic() - started < 5, "the waker slept through the notification"
    waker.close()
