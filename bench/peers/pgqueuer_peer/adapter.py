"""Adapter for pgqueuer 1.6: ``pgq run`` workers, ``Queries.enqueue`` over asyncpg.

pgqueuer is the fastest Python PostgreSQL queue we know of (asyncpg, no Django). It runs with the
settings its documentation recommends for throughput (docs/guides/performance-tuning.md and
docs/comparisons/benchmarks.md of github.com/janbjorge/pgqueuer):

- ``--batch-size 50``: jobs claimed per dequeue round trip (default 10). The guide says to raise
  it for short-lived jobs; 50 is the claim batch issue 17 measured it with.
- no ``--max-concurrent-tasks`` and no per-entrypoint ``concurrency_limit`` (both unlimited, the
  defaults): a limit adds capacity CTEs to every dequeue; the guide keeps them for scarce
  resources. No retry policy either: a failure is logged and the job deleted (its default).
- the asyncpg driver (its benchmarks: about 1.7x psycopg) on one dedicated connection per
  worker, not a pool (the guide's advice for a QueueManager, whose LISTEN lives on it), and
  uvloop, which ``pgq run`` uses when installed (it is a dependency).
- async no-op entrypoints: sync ones run in a thread pool.
- ``pgq autovac`` after ``pgq install`` (the guide's checklist).
- durability ``durable`` (the default): every table logged, as django_dbq's are. ``balanced`` or
  ``volatile`` would be faster, but its docs warn they lose jobs on a server crash, and issue 17
  keeps durable commits as a promise; comparing against them would not compare like with like.
- ``--mode drain`` makes a burst worker (exits once the queue is empty); the latency workload
  runs the default continuous mode, woken by LISTEN/NOTIFY; ``dequeue_timeout``,
  ``heartbeat_timeout`` and the log level stay at their defaults (30 s, 30 s, INFO: nothing is
  logged per job).

Finished jobs leave the ``pgqueuer`` table for ``pgqueuer_log`` in batches (its status buffer
flushes every ``batch_size`` results or 0.1 s), so a job counts as done once its outcome is
written, as django_dbq's do.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

from benchlib.adapter import Adapter
from benchlib.dbsettings import server
from django.db import connection

from .worker import connect

# The claim batch: jobs per dequeue statement (pgqueuer's default is 10).
BATCH_SIZE = 50
WORKER_FACTORY = "peers.pgqueuer_peer.worker:main"
FINISHED = "('successful', 'exception', 'canceled', 'deleted', 'failed')"


def _count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _pg_environment() -> dict[str, str]:
    """libpq variables naming the benchmark's database, for the ``pgq`` command line."""
    s = server("postgresql")
    return {
        **os.environ,
        "PGHOST": s["HOST"],
        "PGPORT": s["PORT"],
        "PGUSER": s["USER"],
        "PGPASSWORD": s["PASSWORD"],
        "PGDATABASE": os.environ["BENCH_DB_NAME"],
    }


class PgqueuerAdapter(Adapter):
    """pgqueuer: one ``pgq run`` process per worker, batch 50; enqueue over asyncpg."""

    label = "pgqueuer"
    vendors = ("postgresql",)
    distribution = "pgqueuer"
    tables = ("pgqueuer", "pgqueuer_log", "pgqueuer_statistics")
    # A task enqueues the next step.
    native_pipelines = False
    # Woken by LISTEN/NOTIFY (a trigger on every insert).
    wakeup_interval = 0.0

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: Any = None
        self._queries: Any = None

    def worker_command(self, args: list[str]) -> list[str]:
        return [sys.executable, "-m", "pgqueuer", *args]

    def worker_args(self, *, burst: bool) -> list[str]:
        args = ["run", WORKER_FACTORY, "--batch-size", str(BATCH_SIZE)]
        return [*args, "--mode", "drain"] if burst else args

    def install(self) -> None:
        for command in (["install"], ["autovac"]):
            subprocess.run(
                [sys.executable, "-m", "pgqueuer", *command],
                env=_pg_environment(),
                check=True,
                capture_output=True,
                timeout=120,
            )

    def _run(self, coroutine: Any) -> Any:
        """Run ``coroutine`` on this driver's one event loop and asyncpg connection."""
        if self._loop is None:
            try:
                import uvloop

                self._loop = uvloop.new_event_loop()
            except ImportError:
                self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coroutine)

    async def _queries_ready(self) -> Any:
        if self._queries is None:
            from pgqueuer.queries import Queries

            self._connection = await connect()
            self._queries = Queries.from_asyncpg_connection(self._connection)
        return self._queries

    async def _enqueue(self, entrypoint: str, count: int) -> None:
        queries = await self._queries_ready()
        for start in range(0, count, 20000):
            size = min(20000, count - start)
            await queries.enqueue([entrypoint] * size, [None] * size, [0] * size)

    def enqueue_noop_setup(self, count: int) -> None:
        self._run(self._enqueue("noop", count))

    def enqueue_pipelines(self, count: int) -> None:
        self._run(self._enqueue("step_one", count))

    def enqueue_one(self) -> None:
        async def one() -> None:
            await (await self._queries_ready()).enqueue("noop", None)

        self._run(one())

    def enqueue_bulk(self, count: int) -> None:
        async def bulk() -> None:
            queries = await self._queries_ready()
            await queries.enqueue(["noop"] * count, [None] * count, [0] * count)

        self._run(bulk())

    def enqueue_probe(self, sample: int) -> float:
        async def probe() -> float:
            queries = await self._queries_ready()
            async with self._connection.transaction():
                await queries.enqueue("probe", str(sample).encode())
                before_commit = time.time()
            return before_commit

        return self._run(probe())

    def remaining(self) -> int:
        return _count("SELECT count(*) FROM pgqueuer WHERE status IN ('queued', 'picked')")

    def finished(self) -> int:
        return _count(f"SELECT count(*) FROM pgqueuer_log WHERE status IN {FINISHED}")

    def failed(self) -> int:
        return _count("SELECT count(*) FROM pgqueuer_log WHERE status IN ('exception', 'failed')")

    def notes(self) -> dict[str, Any]:
        return {"batch_size": BATCH_SIZE, "durability": "durable", "driver": "asyncpg"}


ADAPTER = PgqueuerAdapter
