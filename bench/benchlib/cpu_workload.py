"""The driver's CPU workload: CPU per job of one worker process and of the database serving it.

PostgreSQL on this machine only: the database's share is read from /proc/<pid>/stat of the
backends connected to the contender's database while the worker drains (sampled every 10 ms, so
the last few ms of a backend that exits with its worker may be missed). The worker's own CPU is
its rusage when it exits. A drain of an empty queue is measured first and subtracted from the
drain of ``--jobs`` jobs, so process start-up (imports, connecting) is left out of both figures.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path
from typing import Any

from .measurement import BenchError, reset
from .workers import Workers

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 0.01


class BackendCpu:
    """Samples the CPU ticks of the database's client backends other than the driver's own."""

    def __init__(self) -> None:
        self.ticks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BackendCpu:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self._driver_pid = cursor.fetchone()[0]
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def seconds(self) -> float:
        return sum(self.ticks.values()) / CLOCK_TICKS

    def _run(self) -> None:
        from django.db import connection  # this thread's own connection

        try:
            with connection.cursor() as cursor:
                while not self._stop.is_set():
                    cursor.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND backend_type = 'client backend' AND pid NOT IN "
                        "(pg_backend_pid(), %s)",
                        [self._driver_pid],
                    )
                    for (pid,) in cursor.fetchall():
                        ticks = _ticks(pid)
                        if ticks is not None:
                            self.ticks[pid] = max(self.ticks.get(pid, 0), ticks)
                    time.sleep(SAMPLE_SECONDS)
        finally:
            connection.close()


def _ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # gone, or the server is not on this machine
    return int(fields[11]) + int(fields[12])


def _one_drain(adapter: Any, log_name: str, timeout: float) -> tuple[float, float, float]:
    """(worker CPU s, database CPU s, wall s) of one burst worker draining what is queued."""
    command = adapter.worker_command(adapter.worker_args(burst=True))
    with BackendCpu() as backends:
        started = time.perf_counter()
        pool = Workers(command, 1, log_name, None)
        process = pool.processes[0]
        deadline = time.monotonic() + timeout
        # wait4 reaps the worker and returns its own rusage (Popen.wait would lose it).
        while True:
            pid, _, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = 0
                break
            if time.monotonic() > deadline:
                pool.stop()
                raise BenchError(f"the worker did not finish within {timeout:.0f}s")
            time.sleep(0.005)
        wall = time.perf_counter() - started
    return usage.ru_utime + usage.ru_stime, backends.seconds(), wall


def workload_cpu(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """CPU per job (us) of one worker process and of its database backends, ``--repeat`` times."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return {"metrics": {}, "extra": {"unsupported": {"worker_us": "PostgreSQL only"}}}
    if not adapter.has_burst:
        return {"metrics": {}, "extra": {"unsupported": {"worker_us": "no burst worker"}}}
    metrics: dict[str, list[float]] = {"worker_us": [], "database_us": [], "startup_s": []}
    for repeat in range(options.repeat):
        reset(adapter)
        empty = _one_drain(adapter, f"{options.log_name}-empty-r{repeat}", options.timeout)
        adapter.enqueue_noop_setup(options.jobs)
        full = _one_drain(adapter, f"{options.log_name}-r{repeat}", options.timeout)
        if adapter.remaining():
            raise BenchError(f"{adapter.remaining()} jobs left after the drain")
        metrics["worker_us"].append((full[0] - empty[0]) / options.jobs * 1e6)
        metrics["database_us"].append((full[1] - empty[1]) / options.jobs * 1e6)
        metrics["startup_s"].append(empty[2])
    reset(adapter)
    return {"metrics": metrics, "extra": {"jobs": options.jobs}}
