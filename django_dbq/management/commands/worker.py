"""manage.py worker [queue_name]: run jobs until stopped."""

import logging

from django.core.management.base import BaseCommand

from django_dbq.management.arguments import non_negative_number, positive_int
from django_dbq.worker import Worker

__all__ = ["Command", "Worker"]


class Command(BaseCommand):
    help = "Run a worker that processes the jobs of one queue."

    def add_arguments(self, parser):
        parser.add_argument("queue_name", nargs="?", default="default", help="queue to work on")
        parser.add_argument(
            "--rate_limit",
            "--rate-limit",
            dest="rate_limit",
            type=non_negative_number,
            default=0,
            help="run at most one step per this many seconds (default 0: no limit)",
        )
        parser.add_argument("--dry-run", action="store_true", help="print the settings and exit")
        parser.add_argument(
            "--burst",
            "--until-empty",
            dest="burst",
            action="store_true",
            help="exit once the queue has no runnable job (for cron, scripts and tests)",
        )
        parser.add_argument(
            "--max-jobs",
            type=positive_int,
            default=None,
            help="exit cleanly after running this many steps (memory hygiene under a supervisor)",
        )
        parser.add_argument(
            "--poll-interval",
            type=non_negative_number,
            default=None,
            help="seconds an idle worker waits between polls (default DBQ_POLL_INTERVAL)",
        )
        parser.add_argument(
            "--no-scheduler",
            dest="scheduler",
            action="store_false",
            default=None,
            help="do not spawn the jobs of due schedules in this worker (default DBQ_SCHEDULER)",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=None,
            help="most jobs claimed per query (default DBQ_CLAIM_BATCH_SIZE)",
        )

    def handle(self, *args, **options):
        if options["verbosity"] >= 2:
            logging.getLogger("django_dbq").setLevel(logging.INFO)
        worker = Worker(
            options["queue_name"],
            options["rate_limit"],
            burst=options["burst"],
            max_jobs=options["max_jobs"],
            poll_interval=options["poll_interval"],
            batch_size=options["batch_size"],
            scheduler=options["scheduler"],
        )
        self.stdout.write(
            f'Starting job worker {worker.worker_id} for queue "{worker.queue_name}"'
            + (
                f" with rate limit of one job per {options['rate_limit']:g} second(s)"
                if options["rate_limit"]
                else ""
            )
        )
        if options["dry_run"]:
            return
        worker.run()
