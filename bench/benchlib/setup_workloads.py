"""The driver's two workloads that measure nothing: create the tables, describe the setup."""

from __future__ import annotations

import argparse
from typing import Any


def workload_setup(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """Create the contender's tables."""
    from django.apps import apps
    from django.core.management import call_command

    if apps.is_installed("dbq_project"):
        # PlainJob (no migrations, so created by syncdb, which runs first) has a foreign key
        # to django_dbq's Schedule table: make that table first.
        call_command("migrate", "django_dbq", verbosity=0)
    call_command("migrate", run_syncdb=True, verbosity=0)
    adapter.install()
    return {"metrics": {}, "extra": {"notes": adapter.notes()}}


def workload_info(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """Versions and durability settings of the database server, and of the contender."""
    import platform
    from importlib import metadata

    import django
    from django.db import connection

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "django": django.get_version(),
        "contender_version": metadata.version(adapter.distribution) if adapter.distribution else "",
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers"):
                cursor.execute(f"SHOW {name}")
                info[name] = cursor.fetchone()[0]
        elif connection.vendor == "mysql":
            cursor.execute(
                "SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@innodb_buffer_pool_size"
            )
            version, flush, pool = cursor.fetchone()
            info.update(
                server_version=version,
                innodb_flush_log_at_trx_commit=flush,
                innodb_buffer_pool_size=f"{int(pool) // 2**20}MB",
            )
        else:
            import sqlite3

            info["server_version"] = sqlite3.sqlite_version
            cursor.execute("PRAGMA journal_mode")
            info["journal_mode"] = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            info["synchronous"] = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
                cursor.fetchone()[0], "?"
            )
    return {"metrics": {}, "extra": info}
