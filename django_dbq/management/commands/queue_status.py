"""manage.py queue_status [queue_name ...] [--json] [--check]: jobs per state, oldest wait,
workers; with --check, a health check for containers."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Min
from django.utils import timezone

from django_dbq import pauses
from django_dbq.management.arguments import non_negative_number
from django_dbq.management.tables import require_tables
from django_dbq.models import Job, JobState, WorkerProcess, leased_states
from django_dbq.worker_rows import default_max_silence

STATES = [state.value for state in JobState]


def queue_status(queue_names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per queue: job counts by state, the oldest runnable job's age, the running workers,
    whether it is paused ("paused", "paused_job_names") and its running jobs with their progress
    ("running", the first RUNNING_LIMIT over all queues, longest running first).

    "live_workers" are the worker processes seen lately, idle or not, from their WorkerProcess
    rows; "workers" are the owners of unexpired leases on the queue's PROCESSING (or STOPPING)
    jobs, that is those running a step there.
    """
    now = timezone.now()
    jobs = Job.objects.order_by()
    if queue_names:
        jobs = jobs.filter(queue_name__in=queue_names)
    status: dict[str, dict[str, Any]] = {}

    def queue(name: str) -> dict[str, Any]:
        return status.setdefault(
            name,
            {
                "counts": dict.fromkeys(STATES, 0),
                "oldest_waiting_seconds": None,
                "workers": [],
                "live_workers": [],
                "paused": False,
                "paused_job_names": [],
                "running": [],
            },
        )

    for name in queue_names or []:
        queue(name)
    for row in jobs.values("queue_name", "state").annotate(n=Count("pk")):
        queue(row["queue_name"])["counts"][row["state"]] = row["n"]
    runnable = jobs.runnable(now=now).values("queue_name").annotate(oldest=Min("created"))
    for row in runnable:
        age = (now - row["oldest"]).total_seconds()
        queue(row["queue_name"])["oldest_waiting_seconds"] = round(max(age, 0.0), 3)
    leases = (
        jobs.filter(leased_states(), lease_expires_at__gt=now)
        .values_list("queue_name", "lease_owner")
        .distinct()
    )
    for queue_name, owner in leases:
        queue(queue_name)["workers"].append(owner)
    for entry in status.values():
        entry["workers"].sort()
    for row in live_workers(queue_names, now=now):
        queue(row["queue_name"])["live_workers"].append(row)
    for pause in pauses.paused(queue_names):
        entry = queue(pause.queue_name)
        if pause.job_name:
            entry["paused_job_names"].append(pause.job_name)
        else:
            entry["paused"] = True
    running = jobs.filter(leased_states()).only(*RUNNING_FIELDS).order_by("started_at")
    for job in running[:RUNNING_LIMIT]:
        queue(job.queue_name)["running"].append(running_job(job))
    return dict(sorted(status.items()))


# At most this many running jobs are listed (with their progress), over all queues.
RUNNING_LIMIT = 100
RUNNING_FIELDS = ("queue_name", "name", "state", "step", "lease_owner", "started_at")
RUNNING_FIELDS += ("progress_done", "progress_total", "progress_message", "progress_at")


def running_job(job: Job) -> dict[str, Any]:
    """A running job with its step and reported progress, for --json."""
    return {
        "id": str(job.pk),
        "name": job.name,
        "state": job.state,
        "step": job.step,
        "lease_owner": job.lease_owner,
        "progress": None
        if job.progress_at is None
        else {
            "done": job.progress_done,
            "total": job.progress_total,
            "percent": job.progress_percent,
            "message": job.progress_message,
            "at": job.progress_at.isoformat(),
        },
    }


def live_workers(queue_names: list[str] | None = None, max_silence: float | None = None, now=None):
    """The worker processes seen within ``max_silence`` seconds, as dicts, oldest first."""
    now = now or timezone.now()
    rows = WorkerProcess.objects.seen_since(
        default_max_silence() if max_silence is None else max_silence, now=now
    )
    if queue_names:
        rows = rows.filter(queue_name__in=queue_names)
    return [
        {
            "id": row.id,
            "queue_name": row.queue_name,
            "host": row.host,
            "pid": row.pid,
            "concurrency": row.concurrency,
            "worker_ids": row.worker_ids,
            "current_jobs": row.current_jobs,
            "steps_run": row.steps_run,
            "started_at": row.started_at.isoformat(),
            "last_seen": row.last_seen.isoformat(),
            "last_seen_seconds": round(max((now - row.last_seen).total_seconds(), 0.0), 3),
        }
        for row in rows
        # Exact names: the column may compare case-insensitively on MariaDB/MySQL.
        if not queue_names or row.queue_name in queue_names
    ]


def health_problems(
    queue_names: list[str] | None, max_wait: float | None, max_silence: float
) -> list[str]:
    """What makes the queues unhealthy: a runnable job waiting longer than ``max_wait``, or no
    worker process seen within ``max_silence`` (per named queue, or at all); [] when healthy.

    Two small queries, both served by indexes: the oldest runnable job per queue (the partial
    waiting index) and the fresh worker rows; finished jobs are never read.
    """
    now = timezone.now()
    problems = []
    if max_wait is not None:
        runnable = Job.objects.order_by().runnable(now=now)
        if queue_names:
            runnable = runnable.filter(queue_name__in=queue_names)
        oldest = runnable.values("queue_name").annotate(oldest=Min("created"))
        for row in sorted(oldest, key=lambda row: row["queue_name"]):
            age = (now - row["oldest"]).total_seconds()
            if age > max_wait:
                problems.append(
                    f"queue {row['queue_name']}: the oldest runnable job has waited "
                    f"{humanize_age(age)} (more than {max_wait:g}s)"
                )
    seen = {row["queue_name"] for row in live_workers(queue_names, max_silence, now)}
    if queue_names:
        problems += [
            f"queue {name}: no worker seen in the last {max_silence:g}s"
            for name in queue_names
            if name not in seen
        ]
    elif not seen:
        problems.append(f"no worker seen in the last {max_silence:g}s")
    return problems


def humanize_age(seconds: float | None) -> str:
    """An age as "45s", "4m 12s", "3h 5m" or "2d 4h"; "-" when there is none."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    for unit, size, smaller, smaller_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if whole >= size:
            return f"{whole // size}{unit} {whole % size // smaller_size}{smaller}"
    return f"{whole}s"


def render_table(status: dict[str, dict[str, Any]]) -> str:
    """The status as an aligned text table, with the workers listed below it."""
    header = ["QUEUE", *STATES, "OLDEST WAITING", "WORKERS"]
    rows = [
        [
            f"{name} (paused)" if entry["paused"] else name,
            *(str(entry["counts"][state]) for state in STATES),
            humanize_age(entry["oldest_waiting_seconds"]),
            str(len(entry["workers"])),
        ]
        for name, entry in status.items()
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    ]
    paused = [
        pauses.describe(name, job_name)
        for name, entry in status.items()
        for job_name in ([""] if entry["paused"] else []) + entry["paused_job_names"]
    ]
    if paused:
        lines += ["", "Paused:"]
        lines += [f"  {what}" for what in paused]
    running = [(name, owner) for name, entry in status.items() for owner in entry["workers"]]
    if running:
        lines += ["", "Workers running a step:"]
        lines += [f"  {name}: {owner}" for name, owner in running]
    live = [row for entry in status.values() for row in entry["live_workers"]]
    if live:
        lines += ["", "Live worker processes:"]
        lines += [f"  {render_worker(row)}" for row in live]
    return "\n".join(lines)


def render_worker(row: dict[str, Any]) -> str:
    """One worker process as a line: queue, host, pid, threads, current jobs, last seen."""
    jobs = ", ".join(row["current_jobs"]) or "idle"
    threads = f" threads={row['concurrency']}" if row["concurrency"] > 1 else ""
    return (
        f"{row['queue_name']}: {row['host']} pid={row['pid']}{threads} "
        f"steps={row['steps_run']} running={jobs} "
        f"last seen {humanize_age(row['last_seen_seconds'])} ago"
    )


class Command(BaseCommand):
    help = (
        "Show, per queue, how many jobs are in each state, how long the oldest runnable job has "
        "waited, and which workers are running a step. With --check: exit 1 with the reason "
        "when a job waits too long or no worker is alive (a container health check)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "queue_name", nargs="*", help="queues to show (default: every queue that has jobs)"
        )
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")
        parser.add_argument(
            "--check",
            action="store_true",
            help="health check: exit 1 (the reason on stderr) when --max-wait is exceeded or "
            "no worker process of the queues was seen within --max-silence; print OK otherwise",
        )
        parser.add_argument(
            "--max-wait",
            type=non_negative_number,
            default=None,
            help="with --check: most seconds the oldest runnable job may wait (default: no limit)",
        )
        parser.add_argument(
            "--max-silence",
            type=non_negative_number,
            default=None,
            help="with --check: most seconds since a worker process was last seen "
            "(default: two leases, 2 * DBQ_LEASE_SECONDS)",
        )

    def handle(self, *args, **options):
        require_tables()
        if options["check"]:
            self.check_health(options)
            return
        if options["max_wait"] is not None or options["max_silence"] is not None:
            raise CommandError("--max-wait and --max-silence go with --check")
        status = queue_status(options["queue_name"])
        if options["json"]:
            document = {"generated_at": timezone.now().isoformat(), "queues": status}
            self.stdout.write(json.dumps(document, indent=2))
        elif not status:
            self.stdout.write("No jobs.")
        else:
            self.stdout.write(render_table(status))

    def check_health(self, options: dict[str, Any]) -> None:
        max_silence = options["max_silence"]
        if max_silence is None:
            max_silence = default_max_silence()
        problems = health_problems(options["queue_name"], options["max_wait"], max_silence)
        if problems:
            # One line: container runtimes keep the output of a failed health check.
            raise CommandError("; ".join(problems))
        self.stdout.write("OK")
