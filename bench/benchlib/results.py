"""The raw results of a run, looked up and formatted cell by cell for the report (stdlib only)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

NAMES = {
    "django_dbq": "django_dbq (this tree)",
    "dbq3": "django-db-queue",
    "tasks_db": "django-tasks-db",
    "procrastinate": "procrastinate",
    "pgqueuer": "pgqueuer",
}


@dataclass(frozen=True)
class Row:
    """One line of a per-database table."""

    label: str
    workload: str
    workers: int
    metric: str
    unit: str
    only_ours: bool = False


ROWS = (
    Row("Drain, 1 worker", "drain", 1, "rate", "jobs/s"),
    Row("Drain, 2 workers", "drain", 2, "rate", "jobs/s"),
    Row("Drain, 1 worker, wall clock incl. worker start-up", "drain", 1, "wall_rate", "jobs/s"),
    Row("Drain, 2 workers, wall clock incl. worker start-up", "drain", 2, "wall_rate", "jobs/s"),
    Row("3-step pipelines, 2 workers", "pipeline", 2, "rate", "steps/s"),
    Row("Pickup latency, median", "latency", 1, "p50_ms", "ms"),
    Row("Pickup latency, p95", "latency", 1, "p95_ms", "ms"),
    Row("CPU per job, one worker process (its own)", "cpu", 1, "worker_us", "us"),
    Row("CPU per job, the database backends serving it", "cpu", 1, "database_us", "us"),
    Row("Worker start-up, empty queue (wall)", "cpu", 1, "startup_s", "s"),
    Row("Enqueue one by one", "enqueue", 0, "single", "jobs/s"),
    Row("Enqueue in bulk", "enqueue", 0, "bulk", "jobs/s"),
    Row("Enqueue in bulk, schema + creation hook", "enqueue", 0, "bulk_validated", "jobs/s", True),
    Row(
        "Baseline: plain `Model.objects.create`, same row",
        "enqueue",
        0,
        "plain_single",
        "rows/s",
        True,
    ),
    Row("Baseline: plain `bulk_create`, same rows", "enqueue", 0, "plain_bulk", "rows/s", True),
    Row("Drain, 2 workers, with history (see below)", "history", 2, "rate", "jobs/s", True),
    Row("Drain, 2 workers, off a deep backlog (see below)", "backlog", 2, "rate", "jobs/s", True),
    # The io workload (see report_sections.io_note): one run measures the three cases, keyed
    # by its 8 slots.
    Row("I/O-bound drain, 1 process × 1 thread", "io", 8, "one_thread", "jobs/s", True),
    Row("I/O-bound drain, 1 process × 8 threads", "io", 8, "threads", "jobs/s", True),
    Row("I/O-bound drain, 8 processes × 1 thread", "io", 8, "processes", "jobs/s", True),
    Row("Peak RSS of the workers, 1 process × 1 thread", "io", 8, "one_thread_rss_mb", "MB", True),
    Row("Peak RSS of the workers, 1 process × 8 threads", "io", 8, "threads_rss_mb", "MB", True),
    Row("Peak RSS of the workers, 8 processes (sum)", "io", 8, "processes_rss_mb", "MB", True),
    # The flow workload (see report_sections.flow_note): four cases alternating in one run.
    Row("Flow control: plain drain, 2 workers", "flow", 2, "plain", "jobs/s", True),
    Row(
        "Flow control: plain jobs, limits declared for others",
        "flow",
        2,
        "plain_limits_declared",
        "jobs/s",
        True,
    ),
    Row("Flow control: concurrency 1 per key, 100 keys", "flow", 2, "concurrency", "jobs/s", True),
    Row("Flow control: rate limit 1000/s (job-wide)", "flow", 2, "rate", "jobs/s", True),
)


def number(value: float, unit: str) -> str:
    """A value for the table: thousands separators for rates, one decimal for small numbers."""
    if unit in ("ms", "s") or value < 20:
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def cell(values: list[float], unit: str) -> str:
    """median (min–max), or the value alone for a single run."""
    if not values:
        return "—"
    middle = number(statistics.median(values), unit)
    if len(values) == 1:
        return middle
    return f"{middle} ({number(min(values), unit)}–{number(max(values), unit)})"


class Results:
    """Look-ups over the raw results."""

    def __init__(self, context: dict[str, Any]):
        self.context = context
        self.by_key = {
            (r["contender"], r["vendor"], r["workload"], r["workers"]): r
            for r in context["results"]
        }

    def result(self, contender: str, vendor: str, workload: str, workers: int) -> dict | None:
        return self.by_key.get((contender, vendor, workload, workers))

    def values(
        self, contender: str, vendor: str, workload: str, workers: int, metric: str
    ) -> list[float]:
        result = self.result(contender, vendor, workload, workers) or {}
        return result.get("metrics", {}).get(metric, [])

    def median(
        self, contender: str, vendor: str, workload: str, workers: int, metric: str
    ) -> float | None:
        values = self.values(contender, vendor, workload, workers, metric)
        return statistics.median(values) if values else None

    def cell(self, contender: str, vendor: str, row: Row) -> str:
        if row.only_ours and contender != "django_dbq":
            return ""
        if vendor not in self.context["peer_vendors"].get(contender, [vendor]):
            return "— (PostgreSQL only)"
        if contender in self.context["skipped"]:
            return "not run"
        result = self.result(contender, vendor, row.workload, row.workers)
        if result is None:
            return "not measured"
        if "error" in result:
            return "error: " + _short(result["error"])
        unsupported = result.get("extra", {}).get("unsupported", {})
        if row.metric in unsupported:
            return f"n/a ({unsupported[row.metric]})"
        values = result.get("metrics", {}).get(row.metric, [])
        text = cell(values, row.unit)
        if (
            row.workload == "pipeline"
            and values
            and not result.get("extra", {}).get("native_pipelines", True)
        ):
            text += " ¹"
        return text


def _short(text: str, limit: int = 80) -> str:
    text = text.replace("|", "/").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
