"""manage.py queue_status: jobs per state, the oldest wait and the running workers, per queue."""

import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_dbq.management.commands.queue_status import humanize_age
from django_dbq.models import Job, JobState, WorkerProcess

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_stray_worker_rows")]

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture(autouse=True)
def _frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def queue_status(*args: str) -> str:
    out = io.StringIO()
    call_command("queue_status", *args, stdout=out)
    return out.getvalue()


def status_json(*args: str) -> dict:
    return json.loads(queue_status("--json", *args))["queues"]


def job(state: str = JobState.NEW, queue: str = "default", age: float = 0, **fields) -> Job:
    created = NOW - datetime.timedelta(seconds=age)
    row = Job.objects.create(name="basic", queue_name=queue, created=created)
    Job.objects.filter(pk=row.pk).update(state=state, **fields)
    return row


def running(owner: str, queue: str = "default", lease_left: float = 30) -> Job:
    expires = NOW + datetime.timedelta(seconds=lease_left)
    return job(JobState.PROCESSING, queue, lease_owner=owner, lease_expires_at=expires)


def test_counts_jobs_by_state_per_queue():
    job(JobState.NEW)
    job(JobState.FAILED)
    job(JobState.FAILED)
    job(JobState.COMPLETED, queue="emails")
    status = status_json()
    assert status["default"]["counts"] == {
        "NEW": 1,
        "READY": 0,
        "PROCESSING": 0,
        "STOPPING": 0,
        "COMPLETED": 0,
        "FAILED": 2,
        "CANCELLED": 0,
    }
    assert status["emails"]["counts"]["COMPLETED"] == 1


def test_oldest_waiting_is_the_age_of_the_oldest_runnable_job():
    job(JobState.NEW, age=300)
    job(JobState.READY, age=60)
    job(JobState.FAILED, age=9000)
    assert status_json()["default"]["oldest_waiting_seconds"] == 300


def test_jobs_due_later_are_not_waiting():
    job(JobState.NEW, age=300, run_after=NOW + datetime.timedelta(hours=1))
    job(JobState.READY, age=20)
    assert status_json()["default"]["oldest_waiting_seconds"] == 20


def test_a_queue_with_nothing_waiting_has_no_oldest_age():
    job(JobState.COMPLETED, age=300)
    assert status_json()["default"]["oldest_waiting_seconds"] is None


def test_workers_are_the_owners_of_unexpired_leases():
    running("host-a:1:aa")
    running("host-a:1:aa")
    running("host-b:2:bb")
    running("host-c:3:cc", lease_left=-1)  # its worker died; the rescuer will requeue it
    job(JobState.READY, lease_owner="host-d:4:dd")  # a past owner, not running now
    assert status_json()["default"]["workers"] == ["host-a:1:aa", "host-b:2:bb"]


def worker_row(
    name: str, queue: str = "default", silent_for: float = 3, jobs=(), **fields
) -> WorkerProcess:
    seen = NOW - datetime.timedelta(seconds=silent_for)
    return WorkerProcess.objects.create(
        id=name,
        queue_name=queue,
        host="web-1",
        pid=4242,
        current_jobs=list(jobs),
        started_at=NOW - datetime.timedelta(hours=1),
        last_seen=seen,
        **fields,
    )


def test_live_workers_are_the_processes_seen_lately_with_what_they_run():
    worker_row("web-1:4242:aa", jobs=["0190-job"], steps_run=12, concurrency=2)
    worker_row("web-1:4243:bb", silent_for=3600)  # died an hour ago, not yet pruned
    (live,) = status_json()["default"]["live_workers"]
    assert live["id"] == "web-1:4242:aa"
    assert (live["host"], live["pid"], live["concurrency"]) == ("web-1", 4242, 2)
    assert live["current_jobs"] == ["0190-job"] and live["steps_run"] == 12
    assert live["last_seen_seconds"] == 3
    assert live["last_seen"] == (NOW - datetime.timedelta(seconds=3)).isoformat()


def test_a_queue_with_live_workers_and_no_jobs_is_listed():
    worker_row("web-1:4242:aa", queue="emails")
    assert list(status_json()) == ["emails"]
    assert status_json()["emails"]["live_workers"][0]["id"] == "web-1:4242:aa"


def test_table_lists_live_worker_processes():
    job(JobState.NEW)
    worker_row("web-1:4242:aa", jobs=["0190-job"], steps_run=12, concurrency=2, silent_for=5)
    lines = queue_status().splitlines()
    assert lines[-2:] == [
        "Live worker processes:",
        "  default: web-1 pid=4242 threads=2 steps=12 running=0190-job last seen 5s ago",
    ]


def test_named_queues_are_shown_even_without_jobs():
    job(queue="emails")
    status = status_json("reports")
    assert list(status) == ["reports"]
    assert set(status["reports"]["counts"].values()) == {0}


def test_json_says_when_it_was_generated():
    document = json.loads(queue_status("--json"))
    assert document == {"generated_at": NOW.isoformat(), "queues": {}}


def test_table_has_a_row_per_queue_and_lists_the_workers():
    job(JobState.NEW, age=252)
    job(JobState.FAILED)
    running("host-a:1:aa")
    job(JobState.COMPLETED, queue="emails")
    lines = queue_status().splitlines()
    assert lines[0].split() == [
        "QUEUE",
        *(state.value for state in JobState),
        "OLDEST",
        "WAITING",
        "WORKERS",
    ]
    assert lines[1].split() == ["default", "1", "0", "1", "0", "0", "1", "0", "4m", "12s", "1"]
    assert lines[2].split() == ["emails", "0", "0", "0", "0", "1", "0", "0", "-", "0"]
    assert lines[3:] == ["", "Workers running a step:", "  default: host-a:1:aa"]


def test_table_columns_are_aligned():
    job(queue="a-very-long-queue-name")
    job(queue="q")
    lines = queue_status().splitlines()
    assert len({len(line) for line in lines}) == 1


def test_no_jobs_says_so():
    assert queue_status() == "No jobs.\n"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.4, "0s"), (59, "59s"), (252, "4m 12s"), (3 * 3600 + 300, "3h 5m")],
)
def test_ages_are_written_in_the_two_largest_units(seconds, text):
    assert humanize_age(seconds) == text


def test_queue_depth_output_is_unchanged():
    job(JobState.NEW)
    job(JobState.READY, queue="emails")
    out = io.StringIO()
    call_command("queue_depth", "default", "emails", "none", stdout=out)
    assert out.getvalue() == "event=queue_depths default=1 emails=1 none=0\n"
