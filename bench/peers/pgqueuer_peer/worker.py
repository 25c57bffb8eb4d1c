"""pgqueuer's worker for the benchmark: the factory ``pgq run`` loads, and the no-op entrypoints.

Started as ``python -m pgqueuer run peers.pgqueuer_peer.worker:main --batch-size 50 ...`` (see
adapter.py for the settings and why). No Django here: a plain asyncpg connection to the database
the driver names in BENCH_DB_NAME, on the server of BENCH_PG_* (benchlib/dbsettings.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator

import asyncpg
from benchlib.dbsettings import server
from benchlib.probe import report_start
from pgqueuer.models import Job
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries


async def connect() -> asyncpg.Connection:
    """One asyncpg connection to the benchmark's database (BENCH_DB_NAME)."""
    s = server("postgresql")
    return await asyncpg.connect(
        host=s["HOST"],
        port=int(s["PORT"]),
        user=s["USER"],
        password=s["PASSWORD"] or None,
        database=os.environ["BENCH_DB_NAME"],
    )


def register(qm: QueueManager) -> None:
    """The benchmark's entrypoints: async no-ops (pgqueuer runs sync ones in a thread pool)."""
    queries = qm.queries

    @qm.entrypoint("noop")
    async def noop(job: Job) -> None:
        """Do nothing: the benchmark measures the queue, not the work."""

    @qm.entrypoint("step_one")
    async def step_one(job: Job) -> None:
        """First step of the chained pipeline: enqueue the second."""
        await queries.enqueue("step_two", None)

    @qm.entrypoint("step_two")
    async def step_two(job: Job) -> None:
        """Second step: enqueue the third."""
        await queries.enqueue("step_three", None)

    @qm.entrypoint("step_three")
    async def step_three(job: Job) -> None:
        """Last step of the chained pipeline (no-op)."""

    @qm.entrypoint("probe")
    async def probe(job: Job) -> None:
        """Pickup latency probe: the payload is the sample number."""
        report_start(int(job.payload or b"0"))


@contextlib.asynccontextmanager
async def main() -> AsyncGenerator[QueueManager, None]:
    """The factory of ``pgq run``: a QueueManager on one dedicated asyncpg connection.

    A QueueManager rather than the PgQueuer application object: no scheduler runs, as no
    contender runs one in this benchmark. One direct connection, not a pool, as pgqueuer's
    performance guide advises for a QueueManager (its LISTEN stays on that connection).
    """
    connection = await connect()
    try:
        qm = QueueManager(Queries.from_asyncpg_connection(connection))
        register(qm)
        yield qm
    finally:
        await connection.close()
