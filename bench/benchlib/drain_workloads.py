"""The driver's throughput workloads: worker processes drain a queue the driver filled first.

drain and pipeline measure an empty table, history and backlog a large one (django_dbq only),
io jobs whose step waits on I/O, run by worker threads or processes.
"""

from __future__ import annotations

import argparse
import tempfile
from typing import Any

from .measurement import reset, timed
from .workers import run_drain

# The I/O-bound workload's step: a sleep standing for an HTTP call.
IO_STEP_SECONDS = 0.01


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


def io_cases(slots: int) -> list[tuple[str, int, int]]:
    """(metric, worker processes, threads per process) of the I/O-bound workload."""
    return [("one_thread", 1, 1), ("threads", 1, slots), ("processes", slots, 1)]


def drain_io(
    adapter: Any, options: argparse.Namespace, processes: int, threads: int, log_name: str
) -> tuple[float, float | None]:
    """One I/O-bound drain: its rate, and its workers' peak RSS added up (MiB) if known."""
    from . import memory

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
