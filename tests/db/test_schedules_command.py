"""manage.py schedules: list, add, remove, enable, disable, trigger, sync."""

import datetime
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from django_dbq.models import Job, Schedule

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("schedules", *args, stdout=out)
    return out.getvalue()


def test_add_creates_a_cron_schedule_and_says_when_it_runs_next():
    output = run("add", "nightly", "basic", "--cron", "0 3 * * *", "--workspace", '{"a": 1}')
    assert output.startswith("Added schedule 'nightly' (0 3 * * *); next run ")
    schedule = Schedule.objects.get()
    assert (schedule.job_name, schedule.workspace, schedule.enabled) == ("basic", {"a": 1}, True)


def test_add_accepts_an_interval_and_options():
    run(
        "add", "often", "basic", "--interval", "15m", "--queue-name", "q", "--priority", "3",
        "--catch-up", "all", "--disabled",
    )  # fmt: skip
    schedule = Schedule.objects.get()
    assert schedule.interval == datetime.timedelta(minutes=15)
    assert (schedule.queue_name, schedule.priority, schedule.catch_up) == ("q", 3, "all")
    assert not schedule.enabled


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["--cron", "0 25 * * *"], "invalid cron expression"),
        (["--cron", "0 3 * *"], "must have 5 fields"),
    ],
)
def test_add_rejects_an_invalid_rule_with_one_clear_line(args, complaint):
    with pytest.raises(CommandError, match=complaint):
        run("add", "bad", "basic", *args)
    assert not Schedule.objects.exists()


def test_add_rejects_an_unknown_job():
    with pytest.raises(CommandError, match="unknown job name 'nope'"):
        run("add", "bad", "nope", "--cron", "@daily")


def test_add_rejects_a_duplicate_name():
    run("add", "nightly", "basic", "--cron", "@daily")
    with pytest.raises(CommandError, match="exists already"):
        run("add", "nightly", "basic", "--cron", "@hourly")


def test_list_shows_schedules_as_a_table():
    run("add", "nightly", "basic", "--cron", "0 3 * * *")
    run("add", "often", "basic", "--interval", "90", "--disabled")
    lines = run("list").splitlines()
    assert lines[0].split() == "NAME JOB WHEN NEXT RUN LAST RUN ENABLED FROM".split()
    assert lines[1].split()[:3] == ["nightly", "basic", "0"]
    assert "(disabled)" in lines[2]
    assert run() == run("list")


def test_list_json_prints_one_object_per_schedule():
    run("add", "nightly", "basic", "--cron", "0 3 * * *")
    [line] = run("list", "--json").splitlines()
    data = json.loads(line)
    assert (data["name"], data["cron"], data["enabled"], data["from_settings"]) == (
        "nightly",
        "0 3 * * *",
        True,
        False,
    )


def test_list_says_so_when_there_are_none():
    assert run("list") == "No schedules.\n"


def test_disable_enable_and_remove():
    run("add", "nightly", "basic", "--cron", "@daily")
    assert run("disable", "nightly") == "Disabled schedule 'nightly'\n"
    assert not Schedule.objects.get().enabled
    assert run("enable", "nightly").startswith("Enabled schedule 'nightly'; next run ")
    assert Schedule.objects.get().enabled
    assert run("remove", "nightly") == "Removed schedule 'nightly'\n"
    assert not Schedule.objects.exists()


def test_trigger_enqueues_a_job_and_prints_its_id():
    run("add", "nightly", "basic", "--cron", "@daily", "--workspace", '{"a": 1}')
    job_id = run("trigger", "nightly").strip()
    job = Job.objects.get(pk=job_id)
    assert (job.name, job.workspace, job.schedule.name) == ("basic", {"a": 1}, "nightly")


def test_an_unknown_name_lists_the_known_ones():
    run("add", "nightly", "basic", "--cron", "@daily")
    with pytest.raises(CommandError, match="no schedule named 'nope'; the schedules are: nightly"):
        run("trigger", "nope")


def test_sync_and_removing_a_declared_schedule_is_refused():
    jobs = {"nightly": {"tasks": ["tests.tasks.record"], "schedules": ["0 3 * * *"]}}
    with override_settings(JOBS=jobs):
        assert run("sync") == "Synced schedules from JOBS: created 1, updated 0, removed 0\n"
        assert "settings" in run("list")
        with pytest.raises(CommandError, match="declared in settings.JOBS"):
            run("remove", "nightly")


@override_settings(JOBS={"report": {"tasks": ["tests.tasks.record"], "schedules": ["0 3 * * *"]}})
def test_list_shows_schedules_declared_in_jobs_before_any_sync():
    output = run("list")
    assert "No schedules." not in output
    row = next(line for line in output.splitlines() if line.startswith("report"))
    assert row.split()[:2] == ["report", "report"]
    assert "(not synced)" in row
    assert output.rstrip().endswith(
        "1 schedule(s) declared in JOBS are not in the table yet: a worker syncs them when it "
        "starts, or run `manage.py schedules sync`."
    )


@override_settings(JOBS={"report": {"tasks": ["tests.tasks.record"], "schedules": ["0 3 * * *"]}})
def test_list_after_sync_has_no_unsynced_hint():
    run("sync")
    output = run("list")
    assert "(not synced)" not in output and "schedules sync" not in output


def test_list_marks_an_overdue_next_run_as_due():
    run("add", "often", "basic", "--interval", "15m")
    Schedule.objects.update(next_run_at=timezone.now() - datetime.timedelta(minutes=1))
    row = run("list").splitlines()[1]
    assert "(due)" in row


def test_list_does_not_mark_a_future_next_run():
    run("add", "often", "basic", "--interval", "15m")
    assert "(due)" not in run("list")
