"""Adapter for django-tasks-db: ``manage.py db_worker``, ``task.enqueue()``."""

from __future__ import annotations

import time

from benchlib.adapter import Adapter, NotSupported
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from . import tasks


class DjangoTasksDbAdapter(Adapter):
    """django-tasks-db, the database backend of Django's tasks framework (DEP 14)."""

    label = "django-tasks-db"
    distribution = "django-tasks-db"
    tables = (DBTaskResult._meta.db_table,)
    native_pipelines = False
    # db_worker's default --interval.
    wakeup_interval = 1.0

    def worker_args(self, *, burst: bool) -> list[str]:
        # --no-startup-delay: the default random start-up sleep of up to 1 s would only
        # stagger the second worker of a drain; leaving it out favours the peer.
        args = ["db_worker", "--no-startup-delay"]
        return [*args, "--batch"] if burst else args

    def enqueue_noop_setup(self, count: int) -> None:
        with transaction.atomic():
            for _ in range(count):
                tasks.noop.enqueue()

    def enqueue_pipelines(self, count: int) -> None:
        with transaction.atomic():
            for _ in range(count):
                tasks.step_one.enqueue()

    def enqueue_one(self) -> None:
        tasks.noop.enqueue()

    def enqueue_bulk(self, count: int) -> None:
        raise NotSupported("no bulk enqueue API")

    def enqueue_probe(self, sample: int) -> float:
        with transaction.atomic():
            tasks.probe.enqueue(sample)
            before_commit = time.time()
        return before_commit

    def remaining(self) -> int:
        return DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).count()

    def finished(self) -> int:
        return DBTaskResult.objects.filter(status__in=["SUCCESSFUL", "FAILED"]).count()

    def failed(self) -> int:
        return DBTaskResult.objects.filter(status="FAILED").count()


ADAPTER = DjangoTasksDbAdapter
