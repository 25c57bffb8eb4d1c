"""A clear error instead of ``no such table`` when the commands run before ``migrate``."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.db import DatabaseError, connections, router

from django_dbq.models import Job, Schedule


def require_tables() -> None:
    """Raise CommandError naming the fix when django_dbq's tables are missing.

    One introspection query (the table list) at a command's start: cheaper than loading every
    app's migrations (MigrationExecutor) and it catches what a fresh project hits. A database
    migrated to an older django_dbq shows its own column errors; `migrate --check` lists those.
    """
    alias = router.db_for_write(Job)
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            tables = set(connection.introspection.table_names(cursor))
    except DatabaseError as error:
        raise CommandError(f"cannot reach the database {alias!r}: {error}") from None
    missing = [
        model._meta.db_table for model in (Job, Schedule) if model._meta.db_table not in tables
    ]
    if missing:
        raise CommandError(
            f"the database {alias!r} has no table {', '.join(missing)}: "
            "run `manage.py migrate` first"
        )
