"""manage.py queue pause/resume/list, and paused queues and progress in queue_status."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_dbq import pauses
from django_dbq.models import Job, JobState, QueuePause

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_pause_and_resume_a_queue():
    assert run("queue", "pause", "emails", "--reason", "provider down") == "Paused queue emails.\n"
    row = QueuePause.objects.get()
    assert (row.queue_name, row.job_name, row.reason) == ("emails", "", "provider down")
    assert row.paused_by == "manage.py queue"
    assert run("queue", "resume", "emails") == "Resumed queue emails.\n"
    assert not QueuePause.objects.exists()


def test_pause_and_resume_one_job_name():
    assert run("queue", "pause", "emails", "--job", "send") == (
        "Paused job send in queue emails.\n"
    )
    assert QueuePause.objects.get().job_name == "send"
    assert run("queue", "resume", "emails", "--job", "send") == (
        "Resumed job send in queue emails.\n"
    )


def test_pausing_a_paused_queue_says_so_and_succeeds():
    run("queue", "pause", "emails")
    assert run("queue", "pause", "emails") == "Queue emails was paused already.\n"
    assert QueuePause.objects.count() == 1


def test_resuming_a_queue_that_is_not_paused_is_an_error():
    with pytest.raises(CommandError, match="queue emails is not paused"):
        run("queue", "resume", "emails")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pause", ""), "the queue name must not be empty"),
        (("pause", "q" * 101), "at most 100 allowed"),
        (("pause", "emails", "--job", "j" * 101), "job name is 101 characters long"),
        (("pause", "emails", "--bogus"), "unrecognized arguments: --bogus"),
        (("pause",), "the following arguments are required: queue_name"),
        (("stop", "emails"), "invalid choice: 'stop'"),
    ],
)
def test_bad_input_is_refused_naming_the_problem(args, message):
    with pytest.raises(CommandError, match=message):
        run("queue", *args)
    assert not QueuePause.objects.exists()


def test_list_shows_paused_queues_and_job_names():
    assert run("queue") == "No paused queues.\n"
    pauses.pause("emails", by="ops", reason="deploy")
    pauses.pause("default", "basic")
    lines = run("queue", "list").splitlines()
    assert lines[0].startswith("job basic in queue default: paused since ")
    assert lines[1].startswith("queue emails: paused since ")
    assert lines[1].endswith(" by='ops' reason='deploy'")


def test_list_as_json():
    pauses.pause("emails", "send")
    (document,) = [json.loads(line) for line in run("queue", "list", "--json").splitlines()]
    assert document["queue_name"] == "emails" and document["job_name"] == "send"
    assert set(document) == {"queue_name", "job_name", "paused_at", "paused_by", "reason"}


def test_exit_status_is_1_when_refused_and_2_for_usage_errors(manage):
    refused = manage("queue", "resume", "emails")
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 1 and "queue emails is not paused" in err
    usage = manage("queue", "pause", "emails", "--bogus")
    _, err = usage.communicate(timeout=60)
    assert usage.returncode == 2 and "unrecognized arguments: --bogus" in err


def test_queue_status_shows_paused_queues_and_job_names():
    Job.objects.create(name="basic", queue_name="emails")
    pauses.pause("emails")
    pauses.pause("reports", "nightly")
    status = json.loads(run("queue_status", "--json"))["queues"]
    assert (status["emails"]["paused"], status["emails"]["paused_job_names"]) == (True, [])
    assert (status["reports"]["paused"], status["reports"]["paused_job_names"]) == (
        False,
        ["nightly"],
    )
    text = run("queue_status")
    assert text.splitlines()[1].startswith("emails (paused) ")
    assert text.splitlines()[-3:] == ["Paused:", "  queue emails", "  job nightly in queue reports"]


def test_queue_status_json_lists_running_jobs_with_their_progress():
    job = Job.objects.create(name="basic")
    idle = Job.objects.create(name="basic")
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        state=JobState.PROCESSING,
        lease_owner="w1",
        progress_done=3,
        progress_total=4,
        progress_message="copying",
        progress_at=now,
    )
    Job.objects.filter(pk=idle.pk).update(state=JobState.PROCESSING, lease_owner="w2")
    running = json.loads(run("queue_status", "--json"))["queues"]["default"]["running"]
    by_id = {entry["id"]: entry for entry in running}
    assert by_id[str(job.pk)]["progress"] == {
        "done": 3,
        "total": 4,
        "percent": 75,
        "message": "copying",
        "at": now.isoformat(),
    }
    assert by_id[str(idle.pk)]["progress"] is None
    assert by_id[str(job.pk)]["lease_owner"] == "w1"
