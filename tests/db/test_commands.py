"""The management commands: create_job, delete_old_jobs, queue_depth, worker, check."""

import datetime
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from django_dbq.models import Job, JobState

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_create_job_prints_the_new_id():
    job_id = run("create_job", "three_steps", "--workspace", '{"count": 2}', "--priority", "3")
    job = Job.objects.get()
    assert str(job.pk) == job_id
    assert (job.workspace, job.priority, job.queue_name) == ({"count": 2}, 3, "default")


def test_create_job_accepts_queue_and_run_after():
    run("create_job", "basic", "--queue_name", "mail", "--run-after", "2030-01-31T04:00:00+00:00")
    job = Job.objects.get()
    assert job.queue_name == "mail"
    assert job.run_after == datetime.datetime(2030, 1, 31, 4, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "unknown job name 'nope'"),
        (["basic", "--workspace", "{oops"], "--workspace is not valid JSON"),
        (["basic", "--workspace", "[1]"], "must be a JSON object"),
        (["schema", "--workspace", "{}"], "'url' is a required property"),
        (["basic", "--run-after", "tomorrow"], "not an ISO 8601 date-time"),
        (["basic", "--priority", "99999"], "between -32768 and 32767"),
    ],
)
def test_create_job_rejects_bad_input_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_job", *args)
    assert Job.objects.count() == 0


def test_delete_old_jobs_deletes_only_old_finished_jobs():
    old = timezone.now() - datetime.timedelta(hours=30)
    for state in (JobState.COMPLETED, JobState.FAILED, JobState.READY, JobState.PROCESSING):
        job = Job.objects.create(name="basic")
        Job.objects.filter(pk=job.pk).update(state=state, created=old)
    Job.objects.filter(pk=Job.objects.create(name="basic").pk).update(state=JobState.COMPLETED)
    assert run("delete_old_jobs") == "Deleted 2 old jobs"
    assert sorted(Job.objects.values_list("state", flat=True)) == [
        JobState.COMPLETED,
        JobState.PROCESSING,
        JobState.READY,
    ]


def test_delete_old_jobs_works_in_batches():
    old = timezone.now() - datetime.timedelta(hours=2)
    Job.objects.enqueue_many([Job(name="basic") for _ in range(7)])
    Job.objects.update(state=JobState.COMPLETED, created=old)
    assert run("delete_old_jobs", "--hours", "1", "--batch-size", "3") == "Deleted 7 old jobs"
    assert Job.objects.count() == 0


def test_delete_old_jobs_rejects_negative_hours():
    with pytest.raises(CommandError, match="must be >= 0"):
        call_command("delete_old_jobs", "--hours", "-1")


def test_queue_depth_prints_waiting_jobs_per_queue():
    Job.objects.create(name="basic")
    Job.objects.create(name="basic")
    Job.objects.create(name="basic", queue_name="mail")
    assert run("queue_depth") == "event=queue_depths default=2"
    assert run("queue_depth", "default", "mail", "none") == (
        "event=queue_depths default=2 mail=1 none=0"
    )


def test_queue_depth_can_exclude_future_jobs():
    Job.objects.create(name="basic")
    Job.objects.create(name="basic", run_after=timezone.now() + datetime.timedelta(hours=1))
    assert run("queue_depth", "--exclude_future_jobs", "True") == "event=queue_depths default=1"
    assert run("queue_depth", "--exclude_future_jobs") == "event=queue_depths default=1"
    assert run("queue_depth", "--exclude_future_jobs", "False") == "event=queue_depths default=2"


def test_worker_dry_run_prints_the_settings_and_says_nothing_started():
    output = run("worker", "mail", "--dry-run", "--rate_limit", "2", "--batch-size", "7")
    assert output.startswith("Dry run: nothing was started.")
    assert 'for queue "mail" with rate limit of one job per 2 second(s)' in output
    for line in (
        "queue:          mail",
        "concurrency:    1",
        "batch size:     7",
        "lease:          30 s",
        "poll interval:  0.5 s",
        "scheduler:      on",
        "rate limit:     one step per 2 s",
    ):
        assert line in output
    assert f"database:       default ({connection.vendor})" in output
    assert "three_steps" in output.split("\n  jobs:")[1]
    assert not Job.objects.exists()


def test_worker_dry_run_shows_the_scheduler_off():
    assert "scheduler:      off" in run("worker", "--dry-run", "--no-scheduler")


def test_worker_burst_drains_the_queue():
    Job.objects.create(name="three_steps")
    run("worker", "--burst")
    assert Job.objects.get().state == JobState.COMPLETED


def test_worker_with_concurrency_names_its_threads():
    output = run("worker", "mail", "--dry-run", "--concurrency", "3")
    assert "start line:     Starting 3 job worker threads (" in output
    assert 'for queue "mail"\n' in output
    assert "concurrency:    3" in output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-jobs", "0"], "must be a whole number >= 1"),
        (["--poll-interval", "x"], "number"),
        (["--concurrency", "0"], "must be a whole number >= 1"),
        (
            ["--concurrency", "2", "--rate-limit", "1"],
            "--rate-limit cannot be combined with --concurrency above 1",
        ),
    ],
)
def test_worker_rejects_bad_options(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("worker", *args)


def test_queue_depths_as_a_dict():
    Job.objects.create(name="basic", queue_name="a")
    assert json.loads(json.dumps(Job.get_queue_depths())) == {"a": 1}


def test_delete_old_jobs_rejects_a_batch_size_below_one():
    with pytest.raises(CommandError, match="must be a whole number >= 1"):
        call_command("delete_old_jobs", "--batch-size", "0")
