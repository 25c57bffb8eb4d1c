"""manage.py create_job <job_name>: enqueue one job."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_naive, make_aware

from django_dbq.exceptions import DbqError
from django_dbq.management.tables import require_tables
from django_dbq.models import Job


class Command(BaseCommand):
    help = "Enqueue a job declared in JOBS and print its id."

    def add_arguments(self, parser):
        parser.add_argument("job_name")
        parser.add_argument("--queue_name", "--queue-name", dest="queue_name", default="default")
        parser.add_argument("--workspace", default=None, help="the workspace, as a JSON object")
        parser.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
        parser.add_argument(
            "--run-after",
            "--run_after",
            dest="run_after",
            default=None,
            help="ISO 8601 date-time before which the job does not run",
        )

    def handle(self, *args, **options):
        require_tables()
        workspace = None
        if options["workspace"] is not None:
            try:
                workspace = json.loads(options["workspace"])
            except json.JSONDecodeError as error:
                raise CommandError(f"--workspace is not valid JSON: {error}") from None
        run_after = None
        if options["run_after"]:
            run_after = parse_datetime(options["run_after"])
            if run_after is None:
                raise CommandError(
                    f"--run-after {options['run_after']!r} is not an ISO 8601 date-time "
                    "(for example 2030-01-31T04:00:00+00:00)"
                )
            if is_naive(run_after):
                run_after = make_aware(run_after)
        if not -32768 <= options["priority"] <= 32767:
            raise CommandError("--priority must be between -32768 and 32767")
        try:
            job = Job.objects.create(
                name=options["job_name"],
                workspace=workspace,
                queue_name=options["queue_name"],
                priority=options["priority"],
                run_after=run_after,
            )
        except DbqError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(str(job.pk))
