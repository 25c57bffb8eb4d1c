"""manage.py queue [list|pause|resume]: pause and resume queues (or one job name in a queue).

Exit status: 0 done (pausing a paused queue says so and succeeds), 1 refused (an empty or too
long name, resuming a queue that is not paused), 2 a usage error (unknown action or option).
"""

import json

from django.core.management.base import BaseCommand, CommandError

from django_dbq import pauses
from django_dbq.management.tables import require_tables


class Command(BaseCommand):
    help = (
        "Pause or resume a queue (or one job name in it) for every worker, or list the paused "
        "queues (default: list). Running steps finish; nothing new starts while paused."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", metavar="ACTION")
        listing = actions.add_parser("list", help="list paused queues and job names (default)")
        listing.add_argument("--json", action="store_true", help="print JSON, one object each")
        for action, text in (
            ("pause", "pause a queue: no worker starts a new job of it"),
            ("resume", "resume a paused queue"),
        ):
            sub = actions.add_parser(action, help=text)
            sub.add_argument("queue_name")
            sub.add_argument(
                "--job", dest="job_name", default="", help="only the jobs of this name"
            )
            if action == "pause":
                sub.add_argument("--reason", default="", help="shown in queue list and the admin")

    def handle(self, *args, **options):
        action = options.get("action") or "list"
        require_tables()
        return getattr(self, f"handle_{action}")(options)

    def handle_list(self, options):
        rows = pauses.paused()
        if options.get("json"):
            for row in rows:
                self.stdout.write(json.dumps(pauses.as_dict(row), sort_keys=True))
        elif not rows:
            self.stdout.write("No paused queues.")
        else:
            for row in rows:
                self.stdout.write(pauses.render(row))

    def handle_pause(self, options):
        name, job = options["queue_name"], options["job_name"]
        try:
            done = pauses.pause(name, job, by="manage.py queue", reason=options["reason"])
        except pauses.PauseError as error:
            raise CommandError(str(error)) from None
        what = pauses.describe(name, job)
        self.stdout.write(f"Paused {what}." if done else f"{what.capitalize()} was paused already.")

    def handle_resume(self, options):
        name, job = options["queue_name"], options["job_name"]
        try:
            done = pauses.resume(name, job)
        except pauses.PauseError as error:
            raise CommandError(str(error)) from None
        what = pauses.describe(name, job)
        if not done:
            raise CommandError(f"{what} is not paused (see `manage.py queue list`)")
        self.stdout.write(f"Resumed {what}.")
