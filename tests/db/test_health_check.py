"""manage.py queue_status --check: a container health check that fails, with the reason on one
line, when a runnable job waits too long or no worker process was seen lately."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from django_dbq.models import Job, WorkerProcess

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_stray_worker_rows")]

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def check(*args: str) -> str:
    out = io.StringIO()
    call_command("queue_status", "--check", *args, stdout=out)
    return out.getvalue()


def waiting(age: float, queue: str = "default", **fields) -> Job:
    created = NOW - datetime.timedelta(seconds=age)
    return Job.objects.create(name="basic", queue_name=queue, created=created, **fields)


def worker_seen(seconds_ago: float, queue: str = "default") -> WorkerProcess:
    seen = NOW - datetime.timedelta(seconds=seconds_ago)
    return WorkerProcess.objects.create(
        id=f"host:{queue}:{seconds_ago}",
        queue_name=queue,
        host="host",
        pid=1,
        started_at=seen,
        last_seen=seen,
    )


def test_healthy_prints_ok():
    worker_seen(5)
    waiting(age=10)
    assert check("--max-wait", "60") == "OK\n"


def test_fails_when_the_oldest_runnable_job_waited_longer_than_max_wait():
    worker_seen(5)
    waiting(age=301)
    with pytest.raises(CommandError) as failure:
        check("--max-wait", "300")
    assert str(failure.value) == (
        "queue default: the oldest runnable job has waited 5m 1s (more than 300s)"
    )


def test_jobs_due_later_do_not_count_as_waiting():
    worker_seen(5)
    waiting(age=3600, run_after=NOW + datetime.timedelta(minutes=5))
    assert check("--max-wait", "60") == "OK\n"


def test_without_max_wait_a_long_wait_is_not_checked():
    worker_seen(5)
    waiting(age=3600)
    assert check() == "OK\n"


def test_fails_when_no_worker_was_seen_within_max_silence():
    worker_seen(120)
    with pytest.raises(CommandError, match=r"^no worker seen in the last 60s$"):
        check("--max-silence", "60")


def test_fails_when_there_is_no_worker_row_at_all():
    with pytest.raises(CommandError, match="no worker seen"):
        check()


@override_settings(DBQ_LEASE_SECONDS=10)
def test_max_silence_defaults_to_two_leases():
    worker_seen(19)
    assert check() == "OK\n"
    WorkerProcess.objects.all().delete()
    worker_seen(21)
    with pytest.raises(CommandError, match="in the last 20s"):
        check()


def test_each_named_queue_needs_a_live_worker_of_its_own():
    worker_seen(5, queue="default")
    assert check("default") == "OK\n"
    with pytest.raises(CommandError) as failure:
        check("default", "emails")
    assert str(failure.value) == "queue emails: no worker seen in the last 60s"


def test_every_problem_is_on_the_one_line():
    waiting(age=120, queue="emails")
    with pytest.raises(CommandError) as failure:
        check("emails", "--max-wait", "60")
    assert str(failure.value) == (
        "queue emails: the oldest runnable job has waited 2m 0s (more than 60s); "
        "queue emails: no worker seen in the last 60s"
    )


def test_thresholds_need_check():
    with pytest.raises(CommandError, match="go with --check"):
        call_command("queue_status", "--max-wait", "60", stdout=io.StringIO())
