"""Create and drop the benchmark's scratch databases (names start with dbq_bench)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .dbsettings import server

WORK = Path(__file__).resolve().parent.parent / "work"
VENDORS = ("sqlite", "postgresql", "mariadb")
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mariadb": "MariaDB"}


def _checked(name: str) -> str:
    # Only ever touch our own scratch databases.
    if not re.fullmatch(r"dbq_bench[a-z0-9_]*", name):
        raise ValueError(f"refusing to touch database {name!r}: not a dbq_bench* name")
    return name


def sqlite_path(name: str) -> Path:
    """Where the SQLite file of scratch database ``name`` lives (under bench/work/)."""
    return WORK / f"{_checked(name)}.sqlite3"


def db_name(vendor: str, name: str) -> str:
    """The NAME Django gets: a file path for SQLite, the database name elsewhere."""
    return str(sqlite_path(name)) if vendor == "sqlite" else _checked(name)


def _postgresql_admin():
    import psycopg

    s = server("postgresql")
    return psycopg.connect(
        host=s["HOST"],
        port=int(s["PORT"]),
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=os.environ.get("BENCH_PG_ADMIN_DB", "postgres"),
        autocommit=True,
        connect_timeout=10,
    )


def _mariadb_admin():
    import MySQLdb

    s = server("mariadb")
    return MySQLdb.connect(
        host=s["HOST"],
        port=int(s["PORT"]),
        user=s["USER"],
        password=s["PASSWORD"],
        connect_timeout=10,
    )


def recreate(vendor: str, name: str) -> None:
    """Drop scratch database ``name`` if it exists and create it empty."""
    drop(vendor, name)
    if vendor == "sqlite":
        WORK.mkdir(parents=True, exist_ok=True)
    elif vendor == "postgresql":
        with _postgresql_admin() as connection:
            connection.execute(f'CREATE DATABASE "{_checked(name)}"')
    elif vendor == "mariadb":
        connection = _mariadb_admin()
        try:
            connection.cursor().execute(f"CREATE DATABASE `{_checked(name)}` CHARACTER SET utf8mb4")
        finally:
            connection.close()
    else:
        raise ValueError(vendor)


def drop(vendor: str, name: str) -> None:
    """Drop scratch database ``name`` (and, for SQLite, its WAL files)."""
    if vendor == "sqlite":
        path = sqlite_path(name)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    elif vendor == "postgresql":
        with _postgresql_admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')
    elif vendor == "mariadb":
        connection = _mariadb_admin()
        try:
            connection.cursor().execute(f"DROP DATABASE IF EXISTS `{_checked(name)}`")
        finally:
            connection.close()
    else:
        raise ValueError(vendor)
