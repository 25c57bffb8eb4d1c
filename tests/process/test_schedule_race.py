"""Real `manage.py worker` processes spawning the jobs of due schedules."""

import datetime
import signal
import time

import pytest
from django.utils import timezone

from django_dbq.models import Job, Schedule

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

SECOND = datetime.timedelta(seconds=1)


def wait_for(condition, timeout=60.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def stop(workers):
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    outputs = [worker.communicate(timeout=60) for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * len(workers), outputs
    return "".join(stderr for _, stderr in outputs)


def test_three_workers_racing_over_a_schedule_due_every_second_spawn_one_job_each_time(manage):
    first = timezone.now().replace(microsecond=0) + 3 * SECOND
    schedule = Schedule(
        name="every-second",
        job_name="basic",
        interval=SECOND,
        next_run_at=first,
        queue_name="not-worked",  # nobody runs these jobs: they only need to be counted
    )
    schedule.save()
    workers = [manage("worker", "--poll-interval", "0.05") for _ in range(3)]
    spawned = Job.objects.filter(schedule=schedule)
    reached = wait_for(lambda: spawned.count() >= 8)
    schedule.disable()
    stderr = stop(workers)
    assert reached, stderr
    occurrences = sorted(spawned.values_list("scheduled_for", flat=True))
    # Exactly one job per occurrence, and no occurrence left out, from the first one on.
    assert len(occurrences) == len(set(occurrences)) == spawned.count()
    assert occurrences == [first + n * SECOND for n in range(len(occurrences))]
    # The claim made it so, not the unique constraint behind it: no worker ever collided.
    assert "schedule_occurrence_exists" not in stderr
    assert "schedule_missed" not in stderr


def test_a_nightly_schedule_declared_in_settings_needs_only_workers(manage):
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings_scheduled"}
    workers = [manage("worker", "--poll-interval", "0.05", env=env) for _ in range(2)]
    assert wait_for(lambda: Schedule.objects.filter(name="nightly_report").exists())
    schedule = Schedule.objects.get(name="nightly_report")
    now = timezone.now()
    tonight = now.replace(hour=3, minute=0, second=0, microsecond=0)
    if tonight <= now:
        tonight += datetime.timedelta(days=1)
    assert (schedule.cron, schedule.next_run_at) == ("0 3 * * *", tonight)
    # Let the night come: a tester cannot wait for 03:00, so the occurrence is moved close.
    night = now.replace(microsecond=0) + 2 * SECOND
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=night)
    assert wait_for(lambda: Job.objects.filter(schedule=schedule, state="COMPLETED").exists())
    time.sleep(2)  # time for a second job to appear, if one wrongly would
    stderr = stop(workers)
    [job] = Job.objects.filter(schedule=schedule)
    assert (job.name, job.scheduled_for, job.state) == ("nightly_report", night, "COMPLETED")
    schedule.refresh_from_db()
    assert schedule.next_run_at == tonight
    assert "Traceback" not in stderr
