"""A clear error instead of ``no such table`` when the commands run before ``migrate``."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.db import DatabaseError, connections, router

from django_dbq.models import Job, QueuePause, Schedule
from django_dbq.worker_rows import WorkerProcess


def require_tables() -> None:
    """Raise CommandError naming the fix when django_dbq's tables are missing.

    One introspection query (the table list) at a command's start: cheaper than loading every
    app's migrations (MigrationExecutor) and it catches what a fresh project hits, and a
    database migrated before the worker process table (0015) or the paused queues (0016).
    Other changes of an older django_dbq show their own column errors; `migrate --check`
    lists those.
    """
    alias = router.db_for_write(Job)
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            tables = set(connection.introspection.table_names(cursor))
    except DatabaseError as error:
        raise CommandError(f"cannot reach the database {alias!r}: {error}") from None
    # QueuePause came last (migration 0016): a database migrated before it has the others.
    missing = [
        model._meta.db_table
        for model in (Job, Schedule, WorkerProcess, QueuePause)
        if model._meta.db_table not in tables
    ]
    if missing:
        raise CommandError(
            f"the database {alias!r} has no table {', '.join(missing)}: "
            "run `manage.py migrate` first"
        )
