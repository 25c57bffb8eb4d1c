"""manage.py schedules [list|add|remove|enable|disable|trigger|sync]: manage periodic schedules."""

import argparse
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from django_dbq.exceptions import DbqError
from django_dbq.management.tables import require_tables
from django_dbq.models import Schedule
from django_dbq.recurrence import CatchUp, format_duration, parse_interval
from django_dbq.registry import get_registry
from django_dbq.schedule_sync import sync_declared_schedules


def interval(value: str):
    try:
        return parse_interval(value)
    except DbqError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def workspace(value: str) -> dict:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, not {type(parsed).__name__}")
    return parsed


class Command(BaseCommand):
    help = "List, add, remove, enable, disable or trigger periodic schedules (default: list)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", metavar="ACTION")
        listing = actions.add_parser("list", help="list schedules with their next run (default)")
        listing.add_argument("--json", action="store_true", help="print JSON, one object each")
        add = actions.add_parser("add", help="add a schedule")
        add.add_argument("name")
        add.add_argument("job_name", help="a job declared in JOBS")
        rule = add.add_mutually_exclusive_group(required=True)
        rule.add_argument("--cron", help='five fields, in TIME_ZONE, for example "0 3 * * *"')
        rule.add_argument("--interval", type=interval, help="for example 90s, 15m, 1h30m, 1d")
        add.add_argument("--workspace", type=workspace, default={}, help="JSON object")
        add.add_argument("--queue-name", "--queue_name", dest="queue_name", default="default")
        add.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
        add.add_argument(
            "--catch-up",
            "--catch_up",
            dest="catch_up",
            choices=CatchUp.values,
            default=CatchUp.SKIP,
            help="after downtime: skip missed runs (default), run once, or run each",
        )
        add.add_argument("--disabled", action="store_true", help="add it disabled")
        for action, text in (
            ("remove", "delete a schedule (its jobs stay)"),
            ("enable", "resume at the next occurrence"),
            ("disable", "stop spawning jobs, at once"),
            ("trigger", "enqueue its job now, outside the schedule"),
        ):
            actions.add_parser(action, help=text).add_argument("name")
        actions.add_parser("sync", help="sync the schedules declared in JOBS into the table")

    def handle(self, *args, **options):
        action = options.get("action") or "list"
        require_tables()
        return getattr(self, f"handle_{action}")(options)

    def handle_list(self, options):
        schedules = list(Schedule.objects.all())
        if options.get("json"):
            for schedule in schedules:
                self.stdout.write(json.dumps(_as_dict(schedule), sort_keys=True))
            return
        known = {schedule.name for schedule in schedules}
        # Declared in JOBS but not in the table until a worker starts or `schedules sync` runs.
        unsynced = [spec for spec in get_registry().schedules() if spec.name not in known]
        if not schedules and not unsynced:
            self.stdout.write("No schedules.")
            return
        now = timezone.now()
        header = ("NAME", "JOB", "WHEN", "NEXT RUN", "LAST RUN", "ENABLED", "FROM")
        rows = [header] + [
            (
                schedule.name,
                schedule.job_name,
                schedule.when,
                _next_run(schedule, now),
                _time(schedule.last_run_at),
                "yes" if schedule.enabled else "no",
                "settings" if schedule.from_settings else "runtime",
            )
            for schedule in schedules
        ]
        rows += [
            (
                spec.name,
                spec.job_name,
                spec.cron or f"every {format_duration(spec.interval)}",
                "(not synced)",
                "-",
                "no" if spec.enabled is False else "yes",
                "settings",
            )
            for spec in unsynced
        ]
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        for row in rows:
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )
        errors = [schedule for schedule in schedules if schedule.last_error]
        for schedule in errors:
            self.stdout.write(f"{schedule.name}: last error: {schedule.last_error}")
        if unsynced:
            self.stdout.write(
                f"{len(unsynced)} schedule(s) declared in JOBS are not in the table yet: a worker "
                "syncs them when it starts, or run `manage.py schedules sync`."
            )

    def handle_add(self, options):
        schedule = Schedule(
            name=options["name"],
            job_name=options["job_name"],
            cron=options["cron"] or "",
            interval=options["interval"],
            workspace=options["workspace"],
            queue_name=options["queue_name"],
            priority=options["priority"],
            catch_up=options["catch_up"],
            enabled=not options["disabled"],
        )
        if Schedule.objects.filter(name=schedule.name).exists():
            raise CommandError(f"a schedule named {schedule.name!r} exists already")
        try:
            schedule.save()
        except DbqError as error:
            raise CommandError(str(error)) from None
        next_run = _time(schedule.next_run_at) if schedule.enabled else "(disabled)"
        self.stdout.write(
            f"Added schedule {schedule.name!r} ({schedule.when}); next run {next_run}"
        )

    def handle_remove(self, options):
        schedule = self._get(options["name"])
        if schedule.from_settings:
            raise CommandError(
                f"schedule {schedule.name!r} is declared in settings.JOBS; remove it there "
                "(a worker would re-create it), or disable it"
            )
        schedule.delete()
        self.stdout.write(f"Removed schedule {schedule.name!r}")

    def handle_enable(self, options):
        schedule = self._get(options["name"])
        schedule.enable()
        self.stdout.write(
            f"Enabled schedule {schedule.name!r}; next run {_time(schedule.next_run_at)}"
        )

    def handle_disable(self, options):
        schedule = self._get(options["name"])
        schedule.disable()
        self.stdout.write(f"Disabled schedule {schedule.name!r}")

    def handle_trigger(self, options):
        schedule = self._get(options["name"])
        try:
            job = schedule.trigger()
        except DbqError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(str(job.pk))

    def handle_sync(self, options):
        result = sync_declared_schedules()
        self.stdout.write(
            f"Synced schedules from JOBS: created {len(result.created)}, "
            f"updated {len(result.updated)}, removed {len(result.removed)}"
        )

    def _get(self, name: str) -> Schedule:
        try:
            return Schedule.objects.get(name=name)
        except Schedule.DoesNotExist:
            known = ", ".join(Schedule.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no schedule named {name!r}; the schedules are: {known}") from None


def _next_run(schedule: Schedule, now) -> str:
    """The next run, marked "(due)" once its time has passed, as the admin does."""
    if not schedule.enabled:
        return "(disabled)"
    if schedule.next_run_at is not None and schedule.next_run_at <= now:
        return f"{_time(schedule.next_run_at)} (due)"
    return _time(schedule.next_run_at)


def _time(value) -> str:
    if value is None:
        return "-"
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()


def _as_dict(schedule: Schedule) -> dict:
    return {
        "name": schedule.name,
        "job_name": schedule.job_name,
        "cron": schedule.cron or None,
        "interval_seconds": (
            schedule.interval.total_seconds() if schedule.interval is not None else None
        ),
        "workspace": schedule.workspace,
        "queue_name": schedule.queue_name,
        "priority": schedule.priority,
        "catch_up": schedule.catch_up,
        "enabled": schedule.enabled,
        "next_run_at": schedule.next_run_at.isoformat() if schedule.next_run_at else None,
        "last_run_at": schedule.last_run_at.isoformat() if schedule.last_run_at else None,
        "last_error": schedule.last_error,
        "from_settings": schedule.from_settings,
    }
