"""manage.py delete_old_jobs: delete finished jobs older than some hours, in batches."""

from django.core.management.base import BaseCommand

from django_dbq.management.arguments import non_negative_number, positive_int
from django_dbq.models import Job


class Command(BaseCommand):
    help = "Delete COMPLETED, FAILED and CANCELLED jobs created more than --hours ago."

    def add_arguments(self, parser):
        parser.add_argument(
            "--hours",
            type=non_negative_number,
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
