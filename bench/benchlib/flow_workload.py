"""The flow control workload (django_dbq only): draining under concurrency keys and rate limits.

Four cases alternate within each repeat, each draining ``--jobs`` no-op jobs with ``--workers``
worker processes: the plain drain; the same plain jobs while JOBS declares limits for other jobs
(what the ordinary claim pays then); jobs with a concurrency limit of 1 per key over 100 keys;
and jobs under a job-wide rate limit set far above the drain rate (what the rate's bookkeeping
costs, not the rate itself). Workers of the last three run with BENCH_FLOW=1, which adds the
limited jobs to JOBS (dbq_project/settings.py).
"""

from __future__ import annotations

import argparse
from typing import Any

from .measurement import reset
from .workers import run_drain

# Keys of the concurrency case, each limited to one running step.
FLOW_KEYS = 100
FLOW_ENV = {"BENCH_FLOW": "1"}
CASES = ("plain", "plain_limits_declared", "concurrency", "rate")


def enqueue(adapter: Any, case: str, count: int) -> None:
    """Enqueue the case's jobs, with the limited jobs declared in this process's JOBS."""
    from dbq_project.settings import FLOW_JOBS, JOBS
    from django.test.utils import override_settings

    with override_settings(JOBS={**JOBS, **FLOW_JOBS}):
        adapter.enqueue_flow(case, count, FLOW_KEYS)


def workload_flow(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """Drain rates of the four cases (see the module), alternating within each repeat."""
    metrics: dict[str, list[float]] = {}
    for repeat in range(options.repeat):
        for case in CASES:
            reset(adapter)
            result = run_drain(
                adapter,
                total=options.jobs,
                workers=options.workers,
                enqueue=lambda case=case: enqueue(adapter, case, options.jobs),
                progress=lambda: options.jobs - adapter.remaining(),
                log_name=f"{options.log_name}-{case}-r{repeat}",
                timeout=options.timeout,
                env=None if case == "plain" else FLOW_ENV,
            )
            metrics.setdefault(case, []).append(result["rate"])
    reset(adapter)
    return {"metrics": metrics, "extra": {"keys": FLOW_KEYS, "jobs": options.jobs}}
