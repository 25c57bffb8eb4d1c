"""The queues under test: this tree's django_dbq and its peers, and how to install each."""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import databases

DJANGO = "Django>=5.2,<5.3"
PSYCOPG = "psycopg[binary]>=3.1"
MYSQLCLIENT = "mysqlclient>=2.2"


@dataclass(frozen=True)
class Contender:
    """One queue under test and how to run it."""

    key: str
    adapter: str
    settings: str
    # Requirements of its own virtual environment; empty for this working tree.
    requirements: tuple[str, ...] = ()
    vendors: tuple[str, ...] = databases.VENDORS
    # django-db-queue 3.x runs about one step per second: smaller counts keep the run short.
    slow: bool = False
    history: bool = False
    # Whether its worker runs several worker threads in one process (the io workload).
    threads: bool = False

    @property
    def database(self) -> str:
        """Its scratch database; BENCH_DB_SUFFIX keeps runs sharing one server apart."""
        suffix = os.environ.get("BENCH_DB_SUFFIX", "")
        name = f"dbq_bench_{'run' if self.key == 'django_dbq' else self.key}"
        return f"{name}_{suffix}" if suffix else name


OURS = Contender(
    "django_dbq", "dbq_project.adapter", "dbq_project.settings", history=True, threads=True
)
PEERS = (
    Contender(
        "dbq3",
        "peers.dbq3.adapter",
        "peers.dbq3.settings",
        ("django-db-queue==3.3.0", DJANGO, PSYCOPG, MYSQLCLIENT),
        slow=True,
    ),
    Contender(
        "tasks_db",
        "peers.tasks_db.adapter",
        "peers.tasks_db.settings",
        # Since django-tasks 0.12 the database backend is the separate django-tasks-db
        # package; on Django 5.2 its "compat" extra brings the django-tasks backport.
        ("django-tasks-db[compat]==0.13.0", "django-tasks==0.12.0", DJANGO, PSYCOPG, MYSQLCLIENT),
    ),
    Contender(
        "procrastinate",
        "peers.procrastinate_peer.adapter",
        "peers.procrastinate_peer.settings",
        ("procrastinate[django]==3.10.0", DJANGO, PSYCOPG),
        vendors=("postgresql",),
    ),
    Contender(
        "pgqueuer",
        "peers.pgqueuer_peer.adapter",
        "peers.pgqueuer_peer.settings",
        # Not a Django app: Django and psycopg serve only the driver (emptying and counting the
        # tables); its workers are `pgq run` processes on asyncpg (peers/pgqueuer_peer).
        # typer 0.29 hands `pgq run` its --log-level as a str, which pgqueuer 1.6.0's logging
        # set-up rejects (AttributeError: 'str' object has no attribute 'name'): 0.28 works.
        ("pgqueuer[asyncpg]==1.6.0", "asyncpg==0.32.0", "typer==0.28.0", DJANGO, PSYCOPG),
        vendors=("postgresql",),
    ),
)
