"""Runs one workload against one contender, inside that contender's virtual environment.

run.py starts this script with the contender's Python, DJANGO_SETTINGS_MODULE and BENCH_*
variables set, and reads one JSON line from its output: for each metric, one value per repeat.
Workers are real ``manage.py`` processes (bench/manage.py) started and stopped from here.

    python bench/driver.py --adapter dbq_project.adapter drain --workers 2 --jobs 2000
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
WORK = BENCH / "work"
# How often the driver looks at the queue while workers drain it.
PROGRESS_POLL_SECONDS = 0.01
RESULT_PREFIX = "BENCH_RESULT "
# The I/O-bound workload's step: a sleep standing for an HTTP call.
IO_STEP_SECONDS = 0.01


class BenchError(Exception):
    """A measurement could not be made; the message goes into the results table."""


# -- workers -------------------------------------------------------------------------------------


class Workers:
    """Real worker processes of a contender, started with its own manage.py command."""

    def __init__(self, args: list[str], count: int, log_name: str, env: dict[str, str] | None):
        self.processes: list[subprocess.Popen] = []
        logs = WORK / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            log = open(logs / f"{log_name}-w{index}.log", "w")  # noqa: SIM115 (closed in stop)
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, str(BENCH / "manage.py"), *args],
                    # Not the repository root: its django_dbq must not shadow a peer's.
                    cwd=WORK,
                    env={**os.environ, **(env or {})},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            log.close()

    def all_exited(self) -> bool:
        """True when every worker process has exited."""
        return all(process.poll() is not None for process in self.processes)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for all workers to exit by themselves."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.all_exited():
                return True
            time.sleep(0.02)
        return False

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM (the graceful stop every contender supports), then SIGKILL after ``grace``."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        if not self.wait(grace):
            for process in self.processes:
                if process.poll() is None:
                    process.kill()
            for process in self.processes:
                process.wait(timeout=10)


# -- helpers -------------------------------------------------------------------------------------


def reset(adapter: Any) -> None:
    """Empty the contender's tables."""
    from django.db import connection

    tables = [connection.ops.quote_name(table) for table in adapter.tables]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        elif connection.vendor == "mysql":
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            for table in tables:
                cursor.execute(f"TRUNCATE TABLE {table}")
            cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")


def timed(function: Callable[[], Any]) -> float:
    """Seconds ``function`` takes."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def watch_progress(
    progress: Callable[[], int], total: int, workers: Workers, timeout: float
) -> dict[str, float]:
    """Poll ``progress()`` until it reaches ``total``; time from the first progress seen.

    The rate is (total - done at the first observation) / (time from that observation to the
    last), so worker start-up (importing Django, connecting) is not counted against the queue.
    The wall time from launch is kept as well.
    """
    launched = time.perf_counter()
    first: tuple[float, int] | None = None
    exited_at: float | None = None
    while True:
        done = progress()
        now = time.perf_counter()
        if done >= total:
            break
        if first is None and done > 0:
            first = (now, done)
        if now - launched > timeout:
            raise BenchError(f"timed out after {timeout:.0f}s with {done}/{total} done")
        if workers.all_exited():
            # Give the last commit a moment to become visible, then give up.
            exited_at = exited_at or now
            if now - exited_at > 2:
                raise BenchError(f"workers exited with {done}/{total} done")
        time.sleep(PROGRESS_POLL_SECONDS)
    if first is None or now - first[0] < 0.05:
        raise BenchError(f"{total} units finished before progress could be observed; raise --jobs")
    return {
        "rate": (total - first[1]) / (now - first[0]),
        "wall_rate": total / (now - launched),
        "seconds": now - first[0],
        "wall_seconds": now - launched,
    }


def run_drain(
    adapter: Any,
    *,
    total: int,
    workers: int,
    enqueue: Callable[[], None],
    progress: Callable[[], int],
    log_name: str,
    timeout: float,
    until_empty: bool = True,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    """Enqueue first, then start workers and time them until ``total`` units are finished.

    With ``until_empty`` false the queue holds more than ``total``: the workers are stopped
    once ``total`` are done instead of waiting for burst workers to exit. ``args`` replace the
    contender's burst worker command; ``env`` is added to the workers' environment.
    """
    enqueue()
    failed_before = adapter.failed()
    pool = Workers(args or adapter.worker_args(burst=True), workers, log_name, env)
    try:
        result = watch_progress(progress, total, pool, timeout)
        if adapter.has_burst and until_empty:
            pool.wait(30)
    finally:
        pool.stop()
    failed = adapter.failed() - failed_before
    if failed:
        raise BenchError(f"{failed} jobs failed (see bench/work/logs/{log_name}-w*.log)")
    return result


# -- workloads -----------------------------------------------------------------------------------


def workload_setup(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """Create the contender's tables."""
    from django.apps import apps
    from django.core.management import call_command

    if apps.is_installed("dbq_project"):
        # PlainJob (no migrations, so created by syncdb, which runs first) has a foreign key
        # to django_dbq's Schedule table: make that table first.
        call_command("migrate", "django_dbq", verbosity=0)
    call_command("migrate", run_syncdb=True, verbosity=0)
    return {"metrics": {}, "extra": {"notes": adapter.notes()}}


def workload_drain(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """Drain ``--jobs`` no-op jobs with ``--workers`` worker processes, ``--repeat`` times."""
    rates, walls = [], []
    for repeat in range(options.repeat):
        reset(adapter)
        result = run_drain(
            adapter,
            total=options.jobs,
            workers=options.workers,
            enqueue=lambda: adapter.enqueue_noop_setup(options.jobs),
            progress=lambda: options.jobs - adapter.remaining(),
            log_name=f"{options.log_name}-r{repeat}",
            timeout=options.timeout,
        )
        rates.append(result["rate"])
        walls.append(result["wall_rate"])
    return {"metrics": {"rate": rates, "wall_rate": walls}}


def workload_pipeline(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """Run ``--jobs`` three-step pipelines to the end; the rate is in steps per second."""
    rates, walls = [], []
    pipelines = options.jobs
    for repeat in range(options.repeat):
        reset(adapter)
        result = run_drain(
            adapter,
            total=3 * pipelines,
            workers=options.workers,
            enqueue=lambda: adapter.enqueue_pipelines(pipelines),
            progress=lambda: adapter.steps_done(pipelines),
            log_name=f"{options.log_name}-r{repeat}",
            timeout=options.timeout,
        )
        rates.append(result["rate"])
        walls.append(result["wall_rate"])
    return {
        "metrics": {"rate": rates, "wall_rate": walls},
        "extra": {"native_pipelines": adapter.native_pipelines},
    }


def receive_sample(sock: socket.socket, sample: int, timeout: float) -> float:
    """The start time a probe task reported for ``sample``."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"probe {sample} did not start within {timeout:.0f}s")
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(256)
        except TimeoutError:
            continue
        number, started = data.decode().split()
        if int(number) == sample:
            return float(started)


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile by linear interpolation (fraction=0.95 for p95)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def workload_latency(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """An idle worker; enqueue one probe at a time and time commit -> task start."""
    medians, p95s, raw = [], [], []
    for repeat in range(options.repeat):
        reset(adapter)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        env = {"BENCH_PROBE_PORT": str(sock.getsockname()[1])}
        pool = Workers(adapter.worker_args(burst=False), 1, f"{options.log_name}-r{repeat}", env)
        try:
            # Warm up: the first probe waits for the worker to start; a few more settle it.
            for warm in range(3):
                adapter.enqueue_probe(-1 - warm)
                receive_sample(sock, -1 - warm, 60 if warm == 0 else options.timeout)
            latencies = []
            interval = float(adapter.wakeup_interval)
            for sample in range(options.samples):
                # A pause spread over a whole polling cycle puts each enqueue at a random point
                # of a polling worker's cycle (its previous pickup synchronised the cycle with
                # us); a worker woken by a push just needs to be back in its idle wait.
                time.sleep(
                    random.uniform(0.05, 0.05 + interval) if interval else random.uniform(0.02, 0.1)
                )
                committed = adapter.enqueue_probe(sample)
                started = receive_sample(sock, sample, options.timeout)
                latencies.append((started - committed) * 1000)
        finally:
            pool.stop()
            sock.close()
        medians.append(statistics.median(latencies))
        p95s.append(percentile(latencies, 0.95))
        raw.append([round(value, 3) for value in latencies])
    return {"metrics": {"p50_ms": medians, "p95_ms": p95s}, "extra": {"samples_ms": raw}}


# One-by-one enqueues are timed in alternating chunks of this many jobs after a warm-up chunk,
# so that django_dbq and its plain-Django baseline see the same moments of a shared machine.
ENQUEUE_CHUNK = 50


def one_by_one_rates(enqueue_one: dict[str, Callable[[], None]], count: int) -> dict[str, float]:
    """Jobs per second of each one-by-one enqueue function, ``count`` calls each, interleaved."""
    for function in enqueue_one.values():  # warm-up: connections, caches, plans
        for _ in range(ENQUEUE_CHUNK):
            function()
    seconds = dict.fromkeys(enqueue_one, 0.0)
    done = 0
    while done < count:
        chunk = min(ENQUEUE_CHUNK, count - done)
        for name, function in enqueue_one.items():
            started = time.perf_counter()
            for _ in range(chunk):
                function()
            seconds[name] += time.perf_counter() - started
        done += chunk
    return {name: count / spent for name, spent in seconds.items()}


def workload_enqueue(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """Enqueue one by one (autocommit, one call per job) and in bulk; jobs per second."""
    from benchlib.adapter import NotSupported

    metrics: dict[str, list[float]] = {}
    unsupported: dict[str, str] = {}
    one_by_one = {"single": adapter.enqueue_one}
    cases: list[tuple[str, int, Callable[[], None]]] = [
        ("bulk", options.bulk_jobs, lambda: adapter.enqueue_bulk(options.bulk_jobs)),
    ]
    if hasattr(adapter, "plain_one"):
        one_by_one["plain_single"] = adapter.plain_one
        cases += [
            ("plain_bulk", options.bulk_jobs, lambda: adapter.plain_bulk(options.bulk_jobs)),
            (
                "bulk_validated",
                options.bulk_jobs,
                lambda: adapter.enqueue_bulk_validated(options.bulk_jobs),
            ),
        ]
    for _ in range(options.repeat):
        reset(adapter)
        for name, rate in one_by_one_rates(one_by_one, options.jobs).items():
            metrics.setdefault(name, []).append(rate)
        for name, count, function in cases:
            if name in unsupported:
                continue
            reset(adapter)
            try:
                seconds = timed(function)
            except NotSupported as error:
                unsupported[name] = str(error)
                continue
            metrics.setdefault(name, []).append(count / seconds)
    reset(adapter)
    return {"metrics": metrics, "extra": {"unsupported": unsupported}}


def workload_history(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """Drain with ``--history-rows`` finished jobs in the table; EXPLAIN the claim."""
    from dbq_project import history

    reset(adapter)
    # Captured on an empty table: the claim is a locking read on MariaDB.
    sql = history.claim_sql()
    insert_seconds = timed(lambda: history.insert_history(options.history_rows))
    rates, walls = [], []
    plan: dict[str, Any] = {}
    extra: dict[str, Any] = {
        "insert_seconds": insert_seconds,
        "history_rows": options.history_rows,
    }
    for repeat in range(options.repeat):

        def enqueue() -> None:
            adapter.enqueue_noop_setup(options.jobs)

        if repeat == 0:
            # The plan of the claim as the workers will run it: history plus a full queue.
            adapter.enqueue_noop_setup(options.jobs)
            plan = extra["explain"] = history.explain_claim(sql)
            unsafe = history.unsafe_to_run(plan)
            if unsafe:
                reset(adapter)
                return {"error": unsafe, "extra": extra}

            def enqueue() -> None:  # already enqueued
                pass

        result = run_drain(
            adapter,
            total=options.jobs,
            workers=options.workers,
            enqueue=enqueue,
            progress=lambda: options.jobs - adapter.remaining(),
            log_name=f"{options.log_name}-r{repeat}",
            timeout=options.timeout,
        )
        rates.append(result["rate"])
        walls.append(result["wall_rate"])
    extra["rows_at_end"] = adapter.finished()
    reset(adapter)
    return {"metrics": {"rate": rates, "wall_rate": walls}, "extra": extra}


def io_cases(slots: int) -> list[tuple[str, int, int]]:
    """(metric, worker processes, threads per process) of the I/O-bound workload."""
    return [("one_thread", 1, 1), ("threads", 1, slots), ("processes", slots, 1)]


def drain_io(
    adapter: Any, options: argparse.Namespace, processes: int, threads: int, log_name: str
) -> tuple[float, float | None]:
    """One I/O-bound drain: its rate, and its workers' peak RSS added up (MiB) if known."""
    from benchlib import memory

    reset(adapter)
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as rss_dir:
        result = run_drain(
            adapter,
            total=options.jobs,
            workers=processes,
            enqueue=lambda: adapter.enqueue_io(
                options.jobs, IO_STEP_SECONDS, gates=processes * threads
            ),
            progress=adapter.io_finished,
            log_name=log_name,
            timeout=options.timeout,
            args=adapter.threaded_worker_args(burst=True, threads=threads),
            env={memory.DIRECTORY_VARIABLE: rss_dir},
        )
        return result["rate"], memory.total_peak_rss_mb(rss_dir, processes)


def workload_io(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """Drain ``--jobs`` jobs whose step sleeps: 1 thread, ``--threads`` threads, as many processes.

    The three cases alternate within each repeat, so a noisy moment does not favour one of them.
    """
    metrics: dict[str, list[float]] = {}
    for repeat in range(options.repeat):
        for name, processes, threads in io_cases(options.threads):
            log_name = f"{options.log_name}-{name}-r{repeat}"
            rate, rss_mb = drain_io(adapter, options, processes, threads, log_name)
            metrics.setdefault(name, []).append(rate)
            if rss_mb is not None:
                metrics.setdefault(f"{name}_rss_mb", []).append(rss_mb)
    reset(adapter)
    return {
        "metrics": metrics,
        "extra": {
            "step_seconds": IO_STEP_SECONDS,
            "threads": options.threads,
            "jobs": options.jobs,
        },
    }


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


def workload_backlog(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """Drain ``--jobs`` jobs off the front of a queue ``--backlog-rows`` deep.

    The claim must find the next jobs without reading (or sorting) the whole backlog; when it
    does not, this rate falls far below the ordinary drain's.
    """
    from dbq_project import history

    rates, walls = [], []
    reset(adapter)
    sql = history.claim_sql()
    for start in range(0, options.backlog_rows, 20000):
        adapter.enqueue_noop_setup(min(20000, options.backlog_rows - start))
    history.analyze()
    plan = history.explain_claim(sql)
    unsafe = history.unsafe_to_run(plan)
    if unsafe:
        reset(adapter)
        return {"error": unsafe, "extra": {"backlog_rows": options.backlog_rows, "explain": plan}}
    for repeat in range(options.repeat):
        # Each run takes its jobs off the front of what the previous runs left.
        waiting = adapter.remaining()
        result = run_drain(
            adapter,
            total=options.jobs,
            workers=options.workers,
            enqueue=lambda: None,
            progress=lambda waiting=waiting: waiting - adapter.remaining(),
            log_name=f"{options.log_name}-r{repeat}",
            timeout=options.timeout,
            until_empty=False,
        )
        rates.append(result["rate"])
        walls.append(result["wall_rate"])
    reset(adapter)
    return {
        "metrics": {"rate": rates, "wall_rate": walls},
        "extra": {"backlog_rows": options.backlog_rows, "explain": plan},
    }


WORKLOADS: dict[str, Callable[[Any, argparse.Namespace], dict[str, Any]]] = {
    "setup": workload_setup,
    "info": workload_info,
    "drain": workload_drain,
    "pipeline": workload_pipeline,
    "latency": workload_latency,
    "enqueue": workload_enqueue,
    "history": workload_history,
    "backlog": workload_backlog,
    "io": workload_io,
}


def main(argv: list[str] | None = None) -> int:
    """Run one workload and print its result as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--adapter", required=True, help="module with ADAPTER, e.g. peers.dbq3")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--bulk-jobs", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8, help="worker slots of the io workload")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    parser.add_argument("--backlog-rows", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per wait")
    parser.add_argument("--log-name", default="worker")
    options = parser.parse_args(argv)

    import django

    # run.py stops a stuck driver with SIGTERM: exit through the finally blocks that stop
    # the workers.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    django.setup()
    adapter = importlib.import_module(options.adapter).ADAPTER()
    try:
        result = WORKLOADS[options.workload](adapter, options)
    except BenchError as error:
        result = {"error": str(error)}
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
