"""manage.py worker [queue_name]: run jobs until stopped."""

import logging
from time import sleep  # Worker.process_job() sleeps with it; 3.x tests patch it here

from django.core.management.base import BaseCommand, CommandError

from django_dbq import metrics
from django_dbq.management.arguments import non_negative_number, port_number, positive_int
from django_dbq.options import WorkerOptions
from django_dbq.runner import Runner
from django_dbq.worker import Worker

__all__ = ["Command", "Worker", "sleep"]


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
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            default=1,
            help="run this many worker threads in this process, each with its own database "
            "connection: for steps that wait on I/O (default 1)",
        )

        parser.add_argument(
            "--metrics-port",
            type=port_number,
            default=None,
            help="serve Prometheus metrics on this port, all interfaces "
            "(needs the prometheus extra: pip install 'django-db-queue[prometheus]')",
        )

    def handle(self, *args, **options):
        if options["verbosity"] >= 2:
            logging.getLogger("django_dbq").setLevel(logging.INFO)
        if options["concurrency"] > 1 and options["rate_limit"]:
            raise CommandError(
                "--rate-limit cannot be combined with --concurrency above 1: a rate limit runs "
                "one step at a time, so use a single thread (--concurrency 1)"
            )
        try:
            settings = WorkerOptions(
                queue_name=options["queue_name"],
                rate_limit=options["rate_limit"],
                burst=options["burst"],
                max_jobs=options["max_jobs"],
                poll_interval=options["poll_interval"],
                batch_size=options["batch_size"],
                scheduler=options["scheduler"],
                concurrency=options["concurrency"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        runner = Runner(Worker.pool(settings))
        if runner.concurrency > 1:
            self.stdout.write(
                f"Starting {runner.concurrency} job worker threads "
                f"({', '.join(worker.worker_id for worker in runner.workers)}) "
                f'for queue "{runner.queue_name}"'
            )
        else:
            self.stdout.write(
                f"Starting job worker {runner.workers[0].worker_id} "
                f'for queue "{runner.queue_name}"'
                + (
                    f" with rate limit of one job per {settings.rate_limit:g} second(s)"
                    if settings.rate_limit
                    else ""
                )
            )
        if options["dry_run"]:
            return
        if options["metrics_port"] is not None:
            try:
                metrics.serve(options["metrics_port"], queues=[settings.queue_name])
            except (metrics.MetricsUnavailable, OSError) as error:
                raise CommandError(f"--metrics-port: {error}") from None
        runner.run()
        if runner.crashed:
            raise CommandError("a worker thread stopped on an unexpected error (see the log)")
