"""The benchmark adapter for django_dbq from this working tree."""

from __future__ import annotations

import time
from typing import Any

from benchlib.adapter import Adapter
from django.db import transaction
from django.db.models import Sum

from django_dbq.models import Job, JobState

from .models import PlainJob

ACTIVE = [JobState.NEW, JobState.READY, JobState.PROCESSING, JobState.STOPPING]


class DjangoDbqAdapter(Adapter):
    """django_dbq 4 (this tree): ``manage.py worker``; enqueue with create / enqueue_many."""

    label = "django_dbq (this tree)"
    tables = ("django_dbq_job", "dbq_project_plainjob")

    @property
    def wakeup_interval(self) -> float:  # type: ignore[override]
        """LISTEN/NOTIFY on PostgreSQL; elsewhere the worker polls every DBQ_POLL_INTERVAL."""
        from django.db import connection

        from django_dbq.conf import settings as conf

        return 0.0 if connection.vendor == "postgresql" else float(conf.DBQ_POLL_INTERVAL)

    def worker_args(self, *, burst: bool) -> list[str]:
        return ["worker", "--burst"] if burst else ["worker"]

    def threaded_worker_args(self, *, burst: bool, threads: int) -> list[str]:
        return [*self.worker_args(burst=burst), "--concurrency", str(threads)]

    def enqueue_noop_setup(self, count: int) -> None:
        Job.objects.enqueue_many([Job(name="noop") for _ in range(count)])

    def enqueue_flow(self, case: str, count: int, keys: int) -> None:
        """Jobs of the flow workload's case: plain, keyed (round robin over ``keys``) or rated."""
        if case == "concurrency":
            jobs = [Job(name="keyed", workspace={"k": i % keys}) for i in range(count)]
        elif case == "rate":
            jobs = [Job(name="rated") for _ in range(count)]
        else:
            jobs = [Job(name="noop") for _ in range(count)]
        Job.objects.enqueue_many(jobs)

    def enqueue_pipelines(self, count: int) -> None:
        Job.objects.enqueue_many([Job(name="pipeline") for _ in range(count)])

    def enqueue_io(self, count: int, seconds: float, gates: int) -> None:
        # A higher priority is claimed first: each slot's first claim (one job) takes a gate.
        Job.objects.enqueue_many([Job(name="io_gate", priority=1) for _ in range(gates)])
        Job.objects.enqueue_many(
            [Job(name="io", workspace={"seconds": seconds}) for _ in range(count)]
        )

    def io_finished(self) -> int:
        return Job.objects.filter(name="io").exclude(state__in=ACTIVE).count()

    def enqueue_one(self) -> None:
        Job.objects.create(name="noop")

    def enqueue_bulk(self, count: int) -> None:
        Job.objects.enqueue_many([Job(name="noop") for _ in range(count)])

    def enqueue_bulk_validated(self, count: int) -> None:
        """Bulk enqueue of a job with a workspace schema and a creation hook."""
        Job.objects.enqueue_many([Job(name="validated", workspace={"n": n}) for n in range(count)])

    def plain_one(self) -> None:
        """The baseline: plain Django writing the same row."""
        PlainJob.objects.create(name="noop", next_task="dbq_project.tasks.noop", workspace={})

    def plain_bulk(self, count: int) -> None:
        """The bulk baseline: plain bulk_create of the same rows."""
        PlainJob.objects.bulk_create(
            [
                PlainJob(name="noop", next_task="dbq_project.tasks.noop", workspace={})
                for _ in range(count)
            ],
            batch_size=1000,
        )

    def enqueue_probe(self, sample: int) -> float:
        with transaction.atomic():
            Job.objects.create(name="probe", workspace={"sample": sample})
            before_commit = time.time()
        return before_commit

    def remaining(self) -> int:
        return Job.objects.filter(state__in=ACTIVE).count()

    def finished(self) -> int:
        return Job.objects.exclude(state__in=ACTIVE).count()

    def failed(self) -> int:
        return Job.objects.filter(state=JobState.FAILED).count()

    def steps_done(self, pipelines: int) -> int:
        # ``step`` counts the steps a job has finished; a completed pipeline has step == 3.
        return Job.objects.filter(name="pipeline").aggregate(done=Sum("step"))["done"] or 0

    def notes(self) -> dict[str, Any]:
        from django_dbq.conf import settings as conf

        names = ("DBQ_CLAIM_BATCH_SIZE", "DBQ_POLL_INTERVAL", "DBQ_OUTCOME_DELAY")
        return {name: getattr(conf, name) for name in names if hasattr(conf, name)}


ADAPTER = DjangoDbqAdapter
