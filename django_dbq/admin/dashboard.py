"""The live dashboard: per queue, the last hour's throughput and failures, depth, live workers.

Every query is bounded and served by an index, however many finished jobs the table keeps:
active jobs through (state, created), the hour's finished jobs and the latest failures through
(state, finished_at), live workers through their rows' last_seen and the lease index.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Min
from django.db.models.functions import TruncMinute
from django.utils import timezone

from ..models import ACTIVE_STATES, FINISHED_STATES, Job, JobState, WorkerProcess, leased_states
from .charts import bar_chart

# The charts' window, in one-minute bars.
WINDOW_MINUTES = 60
RECENT_FAILURES = 10
# Live workers listed at most (each running step holds one lease).
WORKERS_LIMIT = 200
# Seconds between two refreshes of the page.
REFRESH_SECONDS = 5

UTC = datetime.timezone.utc
MINUTE = datetime.timedelta(minutes=1)


@dataclass
class LiveWorker:
    """A live worker: a process seen lately (its row), or a lease owner with no row."""

    worker_id: str
    host: str
    pid: str
    queue_names: list[str] = field(default_factory=list)
    jobs: list[tuple[str, str]] = field(default_factory=list)  # (id, name)
    lease_expires_at: datetime.datetime | None = None
    # From the process's row (None for a lease owner without one).
    last_seen: datetime.datetime | None = None
    threads: int | None = None
    steps_run: int | None = None


@dataclass
class QueueStats:
    """One queue's numbers for the dashboard."""

    name: str
    depth: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIVE_STATES, 0))
    oldest_waiting_seconds: float | None = None
    finished: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FINISHED_STATES, 0))
    completed_per_minute: list[int] = field(default_factory=lambda: [0] * WINDOW_MINUTES)
    failed_per_minute: list[int] = field(default_factory=lambda: [0] * WINDOW_MINUTES)
    chart: str = ""


def split_worker_id(worker_id: str) -> tuple[str, str]:
    """(host, pid) of a worker id written as host:pid:random; the id itself if it is not."""
    parts = worker_id.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], parts[1]
    return worker_id, ""


def live_workers(now: datetime.datetime) -> list[LiveWorker]:
    """The worker processes seen lately (their WorkerProcess rows, idle ones too), each with the
    jobs its loops run; owners of unexpired leases that no row covers are listed as well.

    Two bounded queries: the rows of live processes (by last_seen), the leases (lease index).
    """
    workers: dict[str, LiveWorker] = {}
    loop_owner: dict[str, LiveWorker] = {}
    for row in WorkerProcess.objects.live(now)[:WORKERS_LIMIT]:
        worker = workers[row.id] = LiveWorker(
            row.id,
            row.host,
            str(row.pid),
            [row.queue_name],
            last_seen=row.last_seen,
            threads=row.concurrency,
            steps_run=row.steps_run,
        )
        for loop_id in row.worker_ids:
            loop_owner[loop_id] = worker
    leases = (
        Job.objects.filter(leased_states(), lease_expires_at__gt=now)
        .order_by("lease_owner", "lease_expires_at")
        .values_list("lease_owner", "queue_name", "pk", "name", "lease_expires_at")[:WORKERS_LIMIT]
    )
    for owner, queue_name, pk, name, expires in leases:
        worker = loop_owner.get(owner) or workers.get(owner)
        if worker is None:
            host, pid = split_worker_id(owner)
            worker = workers[owner] = LiveWorker(owner, host, pid)
        if queue_name not in worker.queue_names:
            worker.queue_names.append(queue_name)
        worker.jobs.append((str(pk), name))
        if worker.lease_expires_at is None or expires > worker.lease_expires_at:
            worker.lease_expires_at = expires
    return list(workers.values())


def window_start(now: datetime.datetime) -> datetime.datetime:
    """The first minute of the charts: the current minute is the last bar."""
    return now.astimezone(UTC).replace(second=0, microsecond=0) - (WINDOW_MINUTES - 1) * MINUTE


def queue_stats(now: datetime.datetime) -> list[QueueStats]:
    """Per queue: active jobs by state, the oldest runnable job, and the hour's finished jobs."""
    queues: dict[str, QueueStats] = {}

    def queue(name: str) -> QueueStats:
        return queues.setdefault(name, QueueStats(name))

    active = (
        Job.objects.filter(state__in=ACTIVE_STATES)
        .order_by()
        .values("queue_name", "state")
        .annotate(n=Count("pk"))
    )
    for row in active:
        queue(row["queue_name"]).depth[row["state"]] = row["n"]
    runnable = Job.objects.runnable(now=now).order_by().values("queue_name")
    for row in runnable.annotate(oldest=Min("created")):
        age = (now - row["oldest"]).total_seconds()
        queue(row["queue_name"]).oldest_waiting_seconds = max(age, 0.0)
    start = window_start(now)
    finished = (
        Job.objects.filter(state__in=FINISHED_STATES, finished_at__gte=start)
        .order_by()
        .annotate(minute=TruncMinute("finished_at", tzinfo=UTC))
        .values("queue_name", "state", "minute")
        .annotate(n=Count("pk"))
    )
    for row in finished:
        stats = queue(row["queue_name"])
        stats.finished[row["state"]] += row["n"]
        index = int((row["minute"] - start).total_seconds() // 60)
        if not 0 <= index < WINDOW_MINUTES:
            continue
        if row["state"] == JobState.COMPLETED:
            stats.completed_per_minute[index] += row["n"]
        elif row["state"] == JobState.FAILED:
            stats.failed_per_minute[index] += row["n"]
    for stats in queues.values():
        stats.chart = bar_chart(stats.completed_per_minute, stats.failed_per_minute, start)
    return sorted(queues.values(), key=lambda stats: stats.name)


def recent_failures(limit: int = RECENT_FAILURES) -> list[dict[str, Any]]:
    """The latest FAILED jobs, newest first (a backward scan of (state, finished_at))."""
    rows = (
        Job.objects.filter(state=JobState.FAILED, finished_at__isnull=False)
        .order_by("-finished_at")
        .values("pk", "name", "queue_name", "finished_at", "last_error")[:limit]
    )
    return [{**row, "last_error": first_line(row["last_error"])} for row in rows]


def first_line(text: str, length: int = 120) -> str:
    """The first line of an error message, shortened for a table cell."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= length else line[: length - 1] + "…"


def dashboard_data(now: datetime.datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard shows, in six bounded queries."""
    now = now or timezone.now()
    return {
        "now": now,
        "queues": queue_stats(now),
        "workers": live_workers(now),
        "failures": recent_failures(),
        "window_minutes": WINDOW_MINUTES,
        "refresh_seconds": REFRESH_SECONDS,
    }
