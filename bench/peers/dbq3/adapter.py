"""Adapter for django-db-queue 3.3.0: ``manage.py worker``, ``Job.objects.create``."""

from __future__ import annotations

import time

from benchlib.adapter import Adapter, NotSupported
from django.db import transaction

from django_dbq.models import Job

PIPELINE = ["peers.dbq3.tasks.step_one", "peers.dbq3.tasks.step_two", "peers.dbq3.tasks.step_three"]


class DjangoDbQueue3Adapter(Adapter):
    """django-db-queue 3.3.0. Its worker sleeps one second before each step, and has no burst
    mode, so it is stopped with SIGTERM once the queue is drained."""

    label = "django-db-queue 3.3.0"
    distribution = "django-db-queue"
    tables = ("django_dbq_job",)
    has_burst = False
    wakeup_interval = 1.0

    def worker_args(self, *, burst: bool) -> list[str]:
        return ["worker"]

    def enqueue_noop_setup(self, count: int) -> None:
        with transaction.atomic():
            for _ in range(count):
                Job.objects.create(name="noop")

    def enqueue_pipelines(self, count: int) -> None:
        with transaction.atomic():
            for _ in range(count):
                Job.objects.create(name="pipeline")

    def enqueue_one(self) -> None:
        Job.objects.create(name="noop")

    def enqueue_bulk(self, count: int) -> None:
        raise NotSupported("no bulk enqueue API")

    def enqueue_probe(self, sample: int) -> float:
        with transaction.atomic():
            Job.objects.create(name="probe", workspace={"sample": sample})
            before_commit = time.time()
        return before_commit

    def remaining(self) -> int:
        return Job.objects.filter(state__in=["NEW", "READY", "PROCESSING", "STOPPING"]).count()

    def finished(self) -> int:
        return Job.objects.filter(state__in=["COMPLETE", "FAILED"]).count()

    def failed(self) -> int:
        return Job.objects.filter(state="FAILED").count()

    def steps_done(self, pipelines: int) -> int:
        rows = Job.objects.filter(name="pipeline")
        return (
            3 * rows.filter(state="COMPLETE").count()
            + rows.exclude(state="COMPLETE").filter(next_task=PIPELINE[1]).count()
            + 2 * rows.exclude(state="COMPLETE").filter(next_task=PIPELINE[2]).count()
        )


ADAPTER = DjangoDbQueue3Adapter
