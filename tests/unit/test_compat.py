"""django-db-queue 3.x's Job.update_next_task() and Worker.process_job(), without a database."""

import datetime
from unittest import mock

import pytest
from django.test import override_settings
from django.utils import timezone

from django_dbq.exceptions import UndeclaredTaskError
from django_dbq.models import Job
from django_dbq.worker import Worker

JOBS = {"legacy": ["app.a", "app.b", "app.c"], "repeated": ["app.add", "app.add", "app.add"]}


@override_settings(JOBS=JOBS)
def test_update_next_task_walks_the_tasks_and_ends_with_an_empty_string():
    job = Job(name="legacy", next_task="app.a")
    seen = []
    for _ in range(3):
        job.update_next_task()
        seen.append((job.next_task, job.step))
    assert seen == [("app.b", 1), ("app.c", 2), ("", 3)]


@override_settings(JOBS=JOBS)
def test_update_next_task_follows_the_step_through_a_repeated_task():
    job = Job(name="repeated", next_task="app.add")
    job.update_next_task()
    job.update_next_task()
    assert (job.next_task, job.step) == ("app.add", 2)
    job.update_next_task()
    assert (job.next_task, job.step) == ("", 3)


@override_settings(JOBS=JOBS)
def test_update_next_task_past_the_last_task_raises():
    job = Job(name="legacy", next_task="", step=3)
    with pytest.raises(UndeclaredTaskError, match="next_task ''"):
        job.update_next_task()


def legacy_worker(rate_limit, last_job_finished):
    worker = mock.MagicMock(rate_limit_in_seconds=rate_limit)
    worker.last_job_finished = last_job_finished
    return worker


@pytest.fixture
def sleep():
    with mock.patch("django_dbq.management.commands.worker.sleep") as patched:
        yield patched


def test_process_job_sleeps_a_second_then_runs_a_step_and_notes_when(sleep):
    worker = legacy_worker(5, None)
    before = timezone.now()
    Worker.process_job(worker)
    sleep.assert_called_once_with(1)
    worker._process_job.assert_called_once_with()
    assert worker.last_job_finished >= before


def test_process_job_within_the_rate_limit_only_sleeps(sleep):
    last = timezone.now() - datetime.timedelta(seconds=2)
    worker = legacy_worker(5, last)
    Worker.process_job(worker)
    assert (sleep.call_count, worker._process_job.call_count) == (1, 0)
    assert worker.last_job_finished == last


def test_process_job_past_the_rate_limit_runs_a_step(sleep):
    last = timezone.now() - datetime.timedelta(seconds=7)
    worker = legacy_worker(5, last)
    Worker.process_job(worker)
    assert worker._process_job.call_count == 1
    assert worker.last_job_finished > last


def test_a_new_worker_has_not_finished_a_job():
    assert Worker("default", 1).last_job_finished is None
