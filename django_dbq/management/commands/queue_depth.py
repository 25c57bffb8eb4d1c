"""manage.py queue_depth [queue_name ...]: waiting jobs per queue, as key=value pairs."""

from django.core.management.base import BaseCommand

from django_dbq.models import Job


def boolean(value: str) -> bool:
    # django-db-queue 3.x took "--exclude_future_jobs <anything>"; accept the usual spellings.
    return value.strip().lower() not in ("", "0", "false", "no", "off")


class Command(BaseCommand):
    help = "Print how many jobs wait in each named queue (default: the 'default' queue)."

    def add_arguments(self, parser):
        parser.add_argument("queue_name", nargs="*", default=["default"])
        parser.add_argument(
            "--exclude_future_jobs",
            "--exclude-future-jobs",
            dest="exclude_future_jobs",
            nargs="?",
            const=True,
            default=False,
            type=boolean,
            help="do not count jobs whose run_after is in the future",
        )

    def handle(self, *args, **options):
        depths = Job.get_queue_depths(exclude_future_jobs=options["exclude_future_jobs"])
        pairs = " ".join(f"{name}={depths.get(name, 0)}" for name in options["queue_name"])
        self.stdout.write(f"event=queue_depths {pairs}")
