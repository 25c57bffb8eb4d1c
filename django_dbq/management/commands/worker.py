"""manage.py worker [queue_name]: run jobs until stopped."""

import logging
from time import sleep  # Worker.process_job() sleeps with it; 3.x tests patch it here

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router

from django_dbq import metrics
from django_dbq.conf import settings as conf
from django_dbq.console import Console, logging_configured
from django_dbq.management.arguments import non_negative_number, port_number, positive_int
from django_dbq.management.tables import require_tables
from django_dbq.models import Job
from django_dbq.options import WorkerOptions
from django_dbq.registry import get_registry
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
        verbosity = options["verbosity"]
        if verbosity >= 2:
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
        if options["dry_run"]:
            self.stdout.write(dry_run_report(runner))
            return
        require_tables()
        if options["metrics_port"] is not None:
            try:
                metrics.serve(options["metrics_port"], queues=[settings.queue_name])
            except (metrics.MetricsUnavailable, OSError) as error:
                raise CommandError(f"--metrics-port: {error}") from None
        if verbosity > 0:
            self.stdout.write(start_line(runner))
        # Only a project without logging for django_dbq gets the human lines (console.py).
        console = None if logging_configured() else Console(self.stdout, verbosity, self.stderr)
        if console is not None:
            console.connect()
            runner.on_signal = console.signal_received
        try:
            runner.run()
        finally:
            if console is not None:
                console.summary(runner.steps_run)
                console.disconnect()
        if runner.crashed:
            raise CommandError("a worker thread stopped on an unexpected error (see the log)")


def start_line(runner: Runner) -> str:
    """``Starting job worker <id> for queue "<queue>"`` (3.x wording, kept)."""
    if runner.concurrency > 1:
        return (
            f"Starting {runner.concurrency} job worker threads "
            f"({', '.join(worker.worker_id for worker in runner.workers)}) "
            f'for queue "{runner.queue_name}"'
        )
    rate_limit = runner.options.rate_limit
    return f'Starting job worker {runner.workers[0].worker_id} for queue "{runner.queue_name}"' + (
        f" with rate limit of one job per {rate_limit:g} second(s)" if rate_limit else ""
    )


def dry_run_report(runner: Runner) -> str:
    """The settings a worker would run with; --dry-run prints them and starts nothing."""
    worker = runner.workers[0]
    options = runner.options
    scheduler = conf.DBQ_SCHEDULER if options.scheduler is None else options.scheduler
    alias = router.db_for_write(Job)
    names = get_registry().names()
    lines = [
        "Dry run: nothing was started. A worker would run with these settings:",
        f"  start line:     {start_line(runner)}",
        f"  queue:          {runner.queue_name}",
        f"  concurrency:    {runner.concurrency}",
        f"  batch size:     {worker.max_batch_size}",
        f"  lease:          {worker.lease.seconds:g} s",
        f"  poll interval:  {worker.poll_interval:g} s",
        f"  scheduler:      {'on' if scheduler else 'off'}",
        "  rate limit:     "
        + (f"one step per {options.rate_limit:g} s" if options.rate_limit else "none"),
        f"  burst:          {'yes' if options.burst else 'no'}",
        f"  max jobs:       {options.max_jobs or 'no limit'}",
        f"  database:       {alias} ({connections[alias].vendor})",
        f"  jobs:           {', '.join(names) or '(none declared in JOBS)'}",
    ]
    return "\n".join(lines)
