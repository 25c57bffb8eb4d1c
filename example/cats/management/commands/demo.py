"""manage.py demo: enqueue a few cat imports, run a worker, and watch them progress."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from django_dbq.models import Job

CATS = ["Tom", "Felix", "Garfield", "Luna"]


class Command(BaseCommand):
    help = "Migrate, enqueue a few three-step jobs, run a worker until done, show the results."

    def handle(self, *args, **options):
        call_command("migrate", verbosity=0)
        Job.objects.filter(name="import_cat").delete()
        jobs = [Job.objects.create(name="import_cat", workspace={"cat": cat}) for cat in CATS]
        jobs.append(
            Job.objects.create(name="import_cat", workspace={"cat": "Salem", "flaky": True})
        )
        self.stdout.write(
            f"Enqueued {len(jobs)} import_cat jobs (3 steps each); starting a worker.\n"
        )

        manage = Path(__file__).resolve().parents[3] / "manage.py"
        worker = subprocess.Popen([sys.executable, str(manage), "worker"])
        try:
            self.watch(jobs, timeout=60)
        finally:
            worker.send_signal(signal.SIGTERM)  # finishes the running step, then exits
            worker.wait(timeout=30)

        self.stdout.write("\nFinal workspaces:")
        for job in Job.objects.filter(pk__in=[j.pk for j in jobs]).order_by("created"):
            self.stdout.write(
                f"  {job.workspace['cat']:<9} {job.state:<10} {json.dumps(job.workspace)}"
            )
        if Job.objects.filter(pk__in=[j.pk for j in jobs]).exclude(state="COMPLETED").exists():
            raise CommandError("some jobs did not complete")

    def watch(self, jobs, timeout):
        """Print each job's step and state whenever it changes, until all have finished."""
        seen = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = Job.objects.filter(pk__in=[j.pk for j in jobs]).order_by("created")
            for job in rows:
                progress = (job.state, job.step, job.attempts)
                if seen.get(job.pk) != progress:
                    seen[job.pk] = progress
                    note = (
                        f"  (retrying: {job.last_error})"
                        if job.last_error and job.state == "READY"
                        else ""
                    )
                    step = min(job.step + 1, 3)
                    self.stdout.write(
                        f"  {job.workspace['cat']:<9} step {step}/3  {job.state}{note}"
                    )
            if all(job.state in ("COMPLETED", "FAILED") for job in rows):
                return
            time.sleep(0.05)
        raise CommandError(f"jobs were not done within {timeout} seconds")
