"""manage.py queue_status [queue_name ...] [--json]: jobs per state, oldest wait, workers."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count, Min
from django.utils import timezone

from django_dbq.management.tables import require_tables
from django_dbq.models import Job, JobState, leased_states

STATES = [state.value for state in JobState]


def queue_status(queue_names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per queue: job counts by state, the oldest runnable job's age, and the running workers.

    A worker is listed while it holds an unexpired lease on a PROCESSING (or STOPPING) job of the
    queue, that is while it runs a step there; idle workers hold no lease and are not seen.
    """
    now = timezone.now()
    jobs = Job.objects.order_by()
    if queue_names:
        jobs = jobs.filter(queue_name__in=queue_names)
    status: dict[str, dict[str, Any]] = {}

    def queue(name: str) -> dict[str, Any]:
        return status.setdefault(
            name,
            {"counts": dict.fromkeys(STATES, 0), "oldest_waiting_seconds": None, "workers": []},
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
    return dict(sorted(status.items()))


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
            name,
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
    running = [(name, owner) for name, entry in status.items() for owner in entry["workers"]]
    if running:
        lines += ["", "Workers running a step:"]
        lines += [f"  {name}: {owner}" for name, owner in running]
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Show, per queue, how many jobs are in each state, how long the oldest runnable job has "
        "waited, and which workers are running a step."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "queue_name", nargs="*", help="queues to show (default: every queue that has jobs)"
        )
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")

    def handle(self, *args, **options):
        require_tables()
        status = queue_status(options["queue_name"])
        if options["json"]:
            document = {"generated_at": timezone.now().isoformat(), "queues": status}
            self.stdout.write(json.dumps(document, indent=2))
        elif not status:
            self.stdout.write("No jobs.")
        else:
            self.stdout.write(render_table(status))
