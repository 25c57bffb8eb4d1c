"""System checks for the JOBS setting and the database, with stable ids."""

from __future__ import annotations

import sqlite3
from typing import Any

from django.core import checks
from django.db import connections, router
from django.utils.module_loading import import_string

from .engine import SUPPORTED_VENDORS
from .models import Job
from .registry import get_registry, is_import_path


@checks.register("django_dbq")
def check_jobs(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """JOBS: its shape (E001-E008) and that every declared path imports to a callable."""
    registry = get_registry()
    messages: list[checks.CheckMessage] = []
    for name, problems in registry.problems.items():
        for problem in problems:
            messages.append(
                checks.Error(
                    problem.message,
                    hint=problem.hint or None,
                    obj=_obj(name),
                    id=f"django_dbq.{problem.check_id}",
                )
            )
    for spec in registry.specs.values():
        for path in spec.declared_paths():
            if is_import_path(path):  # the registry reported the others (E005)
                messages.extend(_check_path(spec.name, path))
    return messages


def _obj(name: str | None) -> str:
    return "settings.JOBS" if name is None else f"settings.JOBS[{name!r}]"


def _check_path(job_name: str, path: str) -> list[checks.CheckMessage]:

    try:
        target = import_string(path)
    except ImportError as error:
        return [
            checks.Error(
                f"JOBS[{job_name!r}] names {path!r}, which cannot be imported: {error}",
                obj=_obj(job_name),
                id="django_dbq.E005",
            )
        ]
    if not callable(target):
        return [
            checks.Error(
                f"JOBS[{job_name!r}] names {path!r}, which is not callable.",
                obj=_obj(job_name),
                id="django_dbq.E006",
            )
        ]
    return []


@checks.register(checks.Tags.database)
def check_database(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """The database Job rows live in must be one django_dbq can claim jobs on safely (E009)."""

    alias = router.db_for_write(Job)
    if databases is not None and alias not in databases:
        return []
    connection = connections[alias]
    if connection.vendor not in SUPPORTED_VENDORS:
        return [
            checks.Error(
                f"django_dbq does not support the {connection.vendor!r} database.",
                hint=f"Use one of: {', '.join(SUPPORTED_VENDORS)}.",
                id="django_dbq.E009",
            )
        ]
    if connection.vendor == "mysql" and not connection.features.has_select_for_update_skip_locked:
        return [
            checks.Error(
                "django_dbq needs SELECT ... FOR UPDATE SKIP LOCKED: "
                "MySQL 8.0.1+ or MariaDB 10.6+.",
                id="django_dbq.E009",
            )
        ]
    if connection.vendor == "sqlite":
        if sqlite3.sqlite_version_info < (3, 35):
            return [
                checks.Error(
                    "django_dbq needs SQLite 3.35+ (UPDATE ... RETURNING); "
                    f"this is {sqlite3.sqlite_version}.",
                    id="django_dbq.E009",
                )
            ]
    return []
