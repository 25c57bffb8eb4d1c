"""What the orchestrator measures: the plan from the command line, the driver runs it makes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .contenders import Contender

# Worker slots of the io workload: threads of one process, or processes (results.py's rows say 8).
IO_SLOTS = 8


@dataclass
class Plan:
    """What to measure, from the command line."""

    jobs: int
    enqueue_jobs: int
    bulk_jobs: int
    samples: int
    repeat: int
    history_rows: int
    backlog_rows: int
    io_jobs: int
    workloads: tuple[str, ...]
    timeout: float
    results: list[dict[str, Any]] = field(default_factory=list)


def workload_runs(contender: Contender, plan: Plan) -> list[tuple[str, int, list[str]]]:
    """(workload, workers, driver arguments) for one contender."""
    jobs, samples, pipelines = plan.jobs, plan.samples, max(1, plan.jobs // 3)
    if contender.slow:
        # About one step per second per worker: a few jobs measure it well enough.
        jobs, pipelines, samples = min(jobs, 8), min(pipelines, 3), min(samples, 8)
    elif contender.requirements:
        # Peers that poll need about one poll interval per sample.
        samples = min(samples, 15)
    common = ["--repeat", str(plan.repeat), "--timeout", str(plan.timeout)]
    runs: list[tuple[str, int, list[str]]] = []
    if "drain" in plan.workloads:
        for workers in (1, 2):
            runs.append(("drain", workers, ["--jobs", str(jobs), "--workers", str(workers)]))
    if "pipeline" in plan.workloads:
        runs.append(("pipeline", 2, ["--jobs", str(pipelines), "--workers", "2"]))
    if "latency" in plan.workloads:
        runs.append(("latency", 1, ["--samples", str(samples)]))
    if "enqueue" in plan.workloads:
        counts = ["--jobs", str(plan.enqueue_jobs), "--bulk-jobs", str(plan.bulk_jobs)]
        runs.append(("enqueue", 0, counts))
    if "history" in plan.workloads and contender.history and plan.history_rows:
        runs.append(
            (
                "history",
                2,
                [
                    "--jobs",
                    str(plan.jobs),
                    "--workers",
                    "2",
                    "--history-rows",
                    str(plan.history_rows),
                ],
            )
        )
    if "backlog" in plan.workloads and contender.history and plan.backlog_rows:
        runs.append(
            (
                "backlog",
                2,
                [
                    "--jobs",
                    str(plan.jobs),
                    "--workers",
                    "2",
                    "--backlog-rows",
                    str(plan.backlog_rows),
                ],
            )
        )
    if "cpu" in plan.workloads:
        runs.append(("cpu", 1, ["--jobs", str(jobs)]))
    if "io" in plan.workloads and contender.threads and plan.io_jobs:
        runs.append(("io", IO_SLOTS, ["--jobs", str(plan.io_jobs), "--threads", str(IO_SLOTS)]))
    if "flow" in plan.workloads and contender.history:
        # django_dbq only (as history and backlog): peers have no concurrency keys. Fewer
        # jobs: a rate-limited key starts one step per claim (tens to ~150 a second).
        flow_jobs = min(jobs, 2000)
        runs.append(("flow", 2, ["--jobs", str(flow_jobs), "--workers", "2"]))
    return [(name, workers, [*args, *common]) for name, workers, args in runs]


def record(
    plan: Plan, contender: Contender, vendor: str, workload: str, workers: int, **data: Any
) -> None:
    """Keep one result."""
    plan.results.append(
        {
            "contender": contender.key,
            "vendor": vendor,
            "workload": workload,
            "workers": workers,
            **data,
        }
    )
