"""The driver's enqueue workload: jobs per second one by one and in bulk, no workers running."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from .measurement import reset, timed

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
    from .adapter import NotSupported

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
