"""manage.py delete_old_jobs: delete finished jobs older than some hours, in batches."""

import argparse

from django.core.management.base import BaseCommand

from django_dbq.models import Job


def non_negative_hours(value: str) -> float:
    try:
        hours = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of hours, not {value!r}") from None
    if hours < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return hours


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return number


class Command(BaseCommand):
    help = "Delete COMPLETED, FAILED and CANCELLED jobs created more than --hours ago."

    def add_arguments(self, parser):
        parser.add_argument(
            "--hours",
            type=non_negative_hours,
            default=None,
            help="age in hours (default DBQ_DELETE_JOBS_AFTER_HOURS, 24)",
        )
        parser.add_argument("--batch-size", type=positive_int, default=None, help="rows per DELETE")

    def handle(self, *args, **options):
        interactive = self.stdout.isatty()

        def progress(deleted: int) -> None:
            if interactive:
                self.stdout.write(f"\rdeleted {deleted} jobs...", ending="")
                self.stdout.flush()

        deleted = Job.objects.delete_old(
            hours=options["hours"], batch_size=options["batch_size"], progress=progress
        )
        if interactive and deleted:
            self.stdout.write("")
        self.stdout.write(f"Deleted {deleted} old jobs")
