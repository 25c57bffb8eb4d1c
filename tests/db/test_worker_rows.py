"""Worker rows: a worker process is visible while it runs (queue, host, pid, current jobs), and
only then."""

import datetime
import logging
import os
import socket
import threading

import pytest
from django.db import DatabaseError, connections
from django.utils import timezone

from django_dbq.models import Job, WorkerProcess
from django_dbq.options import WorkerOptions
from django_dbq.periodic import presence
from django_dbq.periodic.presence import WorkerPresence
from django_dbq.runner import Runner
from django_dbq.worker import Worker

pytestmark = pytest.mark.django_db(transaction=True)


def part(**options) -> WorkerPresence:
    return WorkerPresence(Worker.pool(WorkerOptions(**options)))


def test_the_first_beat_inserts_the_process_row():
    row_part = part(queue_name="emails", concurrency=2, lease_seconds=30)

    assert row_part.run_once() == 10  # a third of the lease

    row = WorkerProcess.objects.get()
    assert (row.queue_name, row.host, row.pid) == ("emails", socket.gethostname(), os.getpid())
    assert row.concurrency == 2
    assert row.worker_ids == [worker.worker_id for worker in row_part.workers]
    assert row.current_jobs == [] and row.steps_run == 0


def test_later_beats_record_the_running_jobs_and_steps_run():
    row_part = part()
    row_part.run_once()
    worker = row_part.workers[0]
    job = Job.objects.create(name="basic")
    worker.current_job, worker.steps_run = job, 7

    row_part.run_once()

    row = WorkerProcess.objects.get()
    assert row.current_jobs == [str(job.pk)] and row.steps_run == 7


def test_close_deletes_the_row():
    row_part = part()
    row_part.run_once()

    row_part.close()

    assert not WorkerProcess.objects.exists()


def test_close_tries_again_when_the_delete_fails(monkeypatch):
    row_part = part()
    row_part.run_once()
    monkeypatch.setattr(presence.time, "sleep", lambda seconds: None)
    real_filter = WorkerProcess.objects.filter
    failures = iter([DatabaseError("server closed the connection")])

    def flaky_filter(*args, **kwargs):
        error = next(failures, None)
        if error is not None:
            raise error
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(WorkerProcess.objects, "filter", flaky_filter)

    row_part.close()

    assert not WorkerProcess.objects.exists()


def test_a_row_pruned_by_another_process_is_written_again():
    row_part = part()
    row_part.run_once()
    WorkerProcess.objects.all().delete()

    row_part.run_once()

    assert WorkerProcess.objects.filter(pk=row_part.id).exists()


def test_rows_of_processes_silent_for_several_leases_are_pruned():
    old = timezone.now() - datetime.timedelta(seconds=30 * presence.STALE_AFTER_LEASES + 1)
    recent = timezone.now() - datetime.timedelta(seconds=60)
    for name, seen in (("dead", old), ("slow", recent)):
        WorkerProcess.objects.create(
            id=name, queue_name="default", host="h", pid=1, started_at=seen, last_seen=seen
        )

    row_part = part(lease_seconds=30)
    row_part.run_once()

    assert WorkerProcess.objects.filter(pk=row_part.id).exists()
    assert not WorkerProcess.objects.filter(pk="dead").exists()
    assert WorkerProcess.objects.filter(pk="slow").exists()


def test_a_database_error_is_logged_and_retried_never_raised(monkeypatch, caplog):
    row_part = part()

    def broken(*args, **kwargs):
        raise DatabaseError("server closed the connection")

    monkeypatch.setattr(WorkerProcess.objects, "update_or_create", broken)
    with caplog.at_level(logging.ERROR, logger="django_dbq"):
        delay = row_part.run_once()

    assert 0 < delay <= 30
    assert "event=worker_row_database_error" in caplog.text
    monkeypatch.undo()
    assert row_part.run_once() == row_part.interval  # and the next beat writes it
    assert WorkerProcess.objects.filter(pk=row_part.id).exists()


def test_a_running_worker_has_a_row_and_removes_it_when_it_stops():
    runner = Runner(Worker.pool(WorkerOptions(poll_interval=0.05, scheduler=False)))

    def run() -> None:
        try:
            runner.run()
        finally:
            connections.close_all()  # the loop ran on this thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    try:
        seen = None
        for _ in range(200):
            seen = WorkerProcess.objects.first()
            if seen is not None:
                break
            threading.Event().wait(0.05)
        assert seen is not None and seen.worker_ids == [runner.workers[0].worker_id]
    finally:
        runner.stop()
        thread.join(30)
    assert not WorkerProcess.objects.exists()
