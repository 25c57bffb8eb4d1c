"""DATABASES for the benchmark's throwaway Django projects, read from BENCH_* variables.

Every contender (this tree and each peer) builds its settings with this one function, so all of
them talk to the same servers with the same options.
"""

from __future__ import annotations

import os
from typing import Any

# SQLite options given to every contender: WAL lets the progress poller read while workers
# write, IMMEDIATE transactions avoid lock upgrade deadlocks, and the timeout absorbs contention.
SQLITE_INIT = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"


def server(vendor: str) -> dict[str, str]:
    """Host, port, user and password of a database server, from BENCH_PG_* / BENCH_MYSQL_*."""
    if vendor == "postgresql":
        return {
            "HOST": os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("BENCH_PG_PORT", "5432"),
            "USER": os.environ.get("BENCH_PG_USER", "postgres"),
            "PASSWORD": os.environ.get("BENCH_PG_PASSWORD", ""),
        }
    if vendor == "mariadb":
        return {
            "HOST": os.environ.get("BENCH_MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("BENCH_MYSQL_PORT", "3306"),
            "USER": os.environ.get("BENCH_MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("BENCH_MYSQL_PASSWORD", ""),
        }
    raise ValueError(f"no server for {vendor!r}")


def database() -> dict[str, Any]:
    """The ``default`` database of a benchmark project: BENCH_VENDOR and BENCH_DB_NAME."""
    vendor = os.environ.get("BENCH_VENDOR", "sqlite")
    name = os.environ["BENCH_DB_NAME"]
    # Persistent connections for everyone: a worker that reconnects per job (the default
    # CONN_MAX_AGE=0 with close_old_connections()) would measure connection set-up, not the queue.
    common: dict[str, Any] = {"NAME": name, "CONN_MAX_AGE": None}
    if vendor == "sqlite":
        import django

        options: dict[str, Any] = {"timeout": 30, "init_command": SQLITE_INIT}
        if django.VERSION >= (5, 1):  # the option is new in Django 5.1
            options["transaction_mode"] = "IMMEDIATE"
        return {**common, "ENGINE": "django.db.backends.sqlite3", "OPTIONS": options}
    if vendor == "postgresql":
        return {**common, **server(vendor), "ENGINE": "django.db.backends.postgresql"}
    if vendor == "mariadb":
        return {
            **common,
            **server(vendor),
            "ENGINE": "django.db.backends.mysql",
            "OPTIONS": {"charset": "utf8mb4"},
        }
    raise ValueError(f"unknown BENCH_VENDOR {vendor!r}")


def base_settings() -> dict[str, Any]:
    """Settings every benchmark project shares (DEBUG off: it would keep every query in memory)."""
    return {
        "SECRET_KEY": "django_dbq-benchmark-only",
        "DEBUG": False,
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "DATABASES": {"default": database()},
        "LOGGING": {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"console": {"class": "logging.StreamHandler"}},
            "root": {"handlers": ["console"], "level": "WARNING"},
        },
    }
