"""Adapter for procrastinate: ``manage.py procrastinate worker``, ``defer`` / ``batch_defer``."""

from __future__ import annotations

import time

from benchlib.adapter import Adapter
from django.db import connection, transaction

from . import tasks


def _count(where: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM procrastinate_jobs WHERE {where}")
        return cursor.fetchone()[0]


class ProcrastinateAdapter(Adapter):
    """procrastinate's Django integration, one worker process each with its default concurrency."""

    label = "procrastinate"
    vendors = ("postgresql",)
    distribution = "procrastinate"
    tables = (
        "procrastinate_jobs",
        "procrastinate_events",
        "procrastinate_periodic_defers",
        "procrastinate_workers",
    )
    native_pipelines = False
    # Wakes up by LISTEN/NOTIFY.
    wakeup_interval = 0.0

    def worker_args(self, *, burst: bool) -> list[str]:
        args = ["procrastinate", "worker"]
        return [*args, "--one-shot"] if burst else args

    def enqueue_noop_setup(self, count: int) -> None:
        tasks.noop.batch_defer(*({} for _ in range(count)))

    def enqueue_pipelines(self, count: int) -> None:
        tasks.step_one.batch_defer(*({} for _ in range(count)))

    def enqueue_one(self) -> None:
        tasks.noop.defer()

    def enqueue_bulk(self, count: int) -> None:
        tasks.noop.batch_defer(*({} for _ in range(count)))

    def enqueue_probe(self, sample: int) -> float:
        with transaction.atomic():
            tasks.probe.defer(sample=sample)
            before_commit = time.time()
        return before_commit

    def remaining(self) -> int:
        return _count("status IN ('todo', 'doing')")

    def finished(self) -> int:
        return _count("status NOT IN ('todo', 'doing')")

    def failed(self) -> int:
        return _count("status = 'failed'")


ADAPTER = ProcrastinateAdapter
