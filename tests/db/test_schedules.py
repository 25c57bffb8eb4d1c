"""The Schedule model and the scheduler, on the database of DATABASE_URL."""

import datetime
import threading
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from django_dbq.exceptions import InvalidScheduleError
from django_dbq.models import Job, JobState, Schedule
from django_dbq.periodic.scheduler import run_due_schedules, spawn_due

UTC = datetime.timezone.utc
pytestmark = pytest.mark.django_db


def utc(*args):
    return datetime.datetime(*args, tzinfo=UTC)


@pytest.fixture
def freeze():
    """freeze(moment) makes timezone.now() return that moment until the test ends."""
    patcher = None

    def set_now(moment):
        nonlocal patcher
        if patcher:
            patcher.stop()
        patcher = mock.patch("django.utils.timezone.now", return_value=moment)
        patcher.start()

    yield set_now
    if patcher:
        patcher.stop()


def make(name="nightly", **fields):
    fields.setdefault("job_name", "basic")
    if "interval" not in fields:
        fields.setdefault("cron", "0 3 * * *")
    schedule = Schedule(name=name, **fields)
    schedule.save()
    return schedule


# -- saving and validation ---------------------------------------------------------------------


def test_a_new_cron_schedule_runs_next_at_its_next_occurrence(freeze):
    freeze(utc(2026, 1, 10, 12, 0))
    assert make().next_run_at == utc(2026, 1, 11, 3, 0)


def test_a_new_interval_schedule_runs_one_interval_from_now(freeze):
    freeze(utc(2026, 1, 10, 12, 0))
    schedule = make(interval=datetime.timedelta(minutes=5))
    assert schedule.next_run_at == utc(2026, 1, 10, 12, 5)
    assert schedule.when == "every 5m"


def test_an_explicit_first_run_time_is_kept(freeze):
    freeze(utc(2026, 1, 10, 12, 0))
    assert make(next_run_at=utc(2026, 1, 10, 12, 30)).next_run_at == utc(2026, 1, 10, 12, 30)


def test_an_invalid_cron_expression_is_rejected_when_saved_and_nothing_is_saved():
    with pytest.raises(InvalidScheduleError, match="cron: invalid cron expression") as raised:
        make(cron="0 25 * * *")
    assert set(raised.value.errors) == {"cron"}
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"job_name": "no_such_job"}, "job_name"),
        ({"cron": "", "interval": None}, "cron"),
        ({"cron": "0 3 * * *", "interval": datetime.timedelta(hours=1)}, "cron"),
        ({"cron": "", "interval": datetime.timedelta(milliseconds=10)}, "interval"),
        ({"catch_up": "sometimes"}, "catch_up"),
        ({"job_name": "schema", "workspace": {"url": 5}}, "workspace"),
        ({"workspace": ["not", "an", "object"]}, "workspace"),
    ],
)
def test_invalid_definitions_are_reported_by_field(fields, field):
    schedule = Schedule(name="bad", job_name="basic", cron="0 3 * * *")
    for key, value in fields.items():
        setattr(schedule, key, value)
    with pytest.raises(ValidationError) as raised:
        schedule.full_clean()
    assert field in raised.value.message_dict
    with pytest.raises(InvalidScheduleError):
        schedule.save()


def test_the_workspace_is_validated_against_the_jobs_schema():
    make(job_name="schema", workspace={"url": "https://example.com"})
    with pytest.raises(InvalidScheduleError, match="workspace.*url"):
        make(name="no_url", job_name="schema", workspace={"count": 1})


def test_changing_the_rule_moves_the_next_run(freeze):
    freeze(utc(2026, 1, 10, 12, 0))
    schedule = make()
    schedule.cron = "0 13 * * *"
    schedule.save()
    assert schedule.next_run_at == utc(2026, 1, 10, 13, 0)


def test_changing_other_fields_keeps_the_next_run(freeze):
    freeze(utc(2026, 1, 10, 12, 0))
    schedule = make()
    freeze(utc(2026, 1, 10, 12, 30))
    schedule = Schedule.objects.get(pk=schedule.pk)
    schedule.priority = 5
    schedule.save()
    assert schedule.next_run_at == utc(2026, 1, 11, 3, 0)


# -- spawning ------------------------------------------------------------------------------------


def test_a_due_schedule_spawns_one_job_that_records_its_schedule_and_occurrence():
    schedule = make(
        workspace={"source": "nightly"},
        queue_name="imports",
        priority=7,
        next_run_at=utc(2026, 1, 10, 3, 0),
    )
    [job] = run_due_schedules(now=utc(2026, 1, 10, 3, 0, 1))
    job.refresh_from_db()
    assert (job.name, job.state, job.queue_name, job.priority) == ("basic", "NEW", "imports", 7)
    assert job.workspace == {"source": "nightly"}
    assert job.schedule == schedule
    assert job.scheduled_for == utc(2026, 1, 10, 3, 0)
    schedule.refresh_from_db()
    assert schedule.next_run_at == utc(2026, 1, 11, 3, 0)
    assert schedule.last_run_at == utc(2026, 1, 10, 3, 0, 1)
    assert schedule.last_error == ""


def test_a_spawned_job_gets_its_own_copy_of_the_workspace():
    make(workspace={"items": [1]}, next_run_at=utc(2026, 1, 10, 3))
    [job] = run_due_schedules(now=utc(2026, 1, 10, 3, 0, 1))
    job.workspace["items"].append(2)
    job.save()
    assert Schedule.objects.get().workspace == {"items": [1]}


def test_an_occurrence_spawns_once_however_often_the_scheduler_looks():
    make(next_run_at=utc(2026, 1, 10, 3))
    now = utc(2026, 1, 10, 3, 0, 1)
    assert len(run_due_schedules(now=now)) == 1
    assert run_due_schedules(now=now) == []
    assert run_due_schedules(now=now + datetime.timedelta(seconds=30)) == []
    assert Job.objects.count() == 1


def test_a_scheduler_that_read_an_old_next_run_spawns_nothing():
    schedule = make(next_run_at=utc(2026, 1, 10, 3))
    run_due_schedules(now=utc(2026, 1, 10, 3, 0, 1))
    # A second worker read next_run_at before the first moved it on, and lost the race.
    assert spawn_due(schedule.pk, utc(2026, 1, 10, 3), utc(2026, 1, 10, 3, 0, 1)) == []
    assert Job.objects.count() == 1


def test_a_schedule_that_is_not_due_yet_spawns_nothing():
    make(next_run_at=utc(2026, 1, 10, 3))
    assert run_due_schedules(now=utc(2026, 1, 10, 2, 59, 59)) == []


def test_a_nightly_schedule_spawns_exactly_one_job_per_night_across_dst(settings, freeze):
    settings.TIME_ZONE = "Europe/London"
    freeze(utc(2026, 3, 27, 12))
    schedule = make(cron="0 3 * * *")
    # Look every 47 seconds (within the grace) for four days, over the night the clocks go
    # forward.
    now = utc(2026, 3, 27, 12)
    while now < utc(2026, 3, 31, 12):
        run_due_schedules(now=now)
        now += datetime.timedelta(seconds=47)
    occurrences = list(
        schedule.jobs.order_by("scheduled_for").values_list("scheduled_for", flat=True)
    )
    assert occurrences == [
        utc(2026, 3, 28, 3),  # 03:00 GMT
        utc(2026, 3, 29, 2),  # 03:00 BST
        utc(2026, 3, 30, 2),
        utc(2026, 3, 31, 2),
    ]


def test_a_disabled_schedule_spawns_nothing():
    schedule = make(next_run_at=utc(2026, 1, 10, 3))
    schedule.disable()
    assert run_due_schedules(now=utc(2026, 1, 12)) == []


def test_a_schedule_whose_job_left_jobs_can_still_be_disabled():
    schedule = make(next_run_at=utc(2026, 1, 10, 3))
    with override_settings(JOBS={"other": ["tests.tasks.record"]}):
        schedule.disable()
    assert Schedule.objects.get().enabled is False
    assert run_due_schedules(now=utc(2026, 1, 12)) == []


def test_enabling_again_resumes_at_the_next_occurrence_without_catching_up(freeze):
    schedule = make(next_run_at=utc(2026, 1, 10, 3), catch_up=Schedule.CatchUp.ALL)
    schedule.disable()
    freeze(utc(2026, 1, 15, 12))
    schedule.enable()
    assert schedule.next_run_at == utc(2026, 1, 16, 3)
    assert run_due_schedules(now=utc(2026, 1, 15, 12, 0, 1)) == []


def test_enabling_an_interval_schedule_keeps_its_grid(freeze):
    freeze(utc(2026, 1, 10, 12, 0))
    schedule = make(interval=datetime.timedelta(minutes=10))
    schedule.disable()
    freeze(utc(2026, 1, 10, 13, 3))
    Schedule.objects.get(pk=schedule.pk).enable()
    assert Schedule.objects.get(pk=schedule.pk).next_run_at == utc(2026, 1, 10, 13, 10)


@pytest.mark.parametrize(
    "catch_up, spawned_for",
    [
        ("skip", []),
        ("once", [utc(2026, 1, 13, 3)]),
        ("all", [utc(2026, 1, d, 3) for d in (10, 11, 12, 13)]),
    ],
)
def test_after_downtime_the_catch_up_policy_decides(catch_up, spawned_for):
    make(next_run_at=utc(2026, 1, 10, 3), catch_up=catch_up)
    jobs = run_due_schedules(now=utc(2026, 1, 13, 9))  # workers were down for three nights
    assert sorted(job.scheduled_for for job in jobs) == spawned_for
    assert Schedule.objects.get().next_run_at == utc(2026, 1, 14, 3)


def test_catch_up_all_is_bounded(settings):
    settings.DBQ_SCHEDULE_CATCH_UP_LIMIT = 2
    make(next_run_at=utc(2026, 1, 10, 3), catch_up="all")
    jobs = run_due_schedules(now=utc(2026, 1, 13, 9))
    assert sorted(job.scheduled_for for job in jobs) == [utc(2026, 1, 12, 3), utc(2026, 1, 13, 3)]


def test_a_job_no_longer_in_jobs_is_recorded_as_the_error_and_the_schedule_moves_on():
    make(next_run_at=utc(2026, 1, 10, 3))
    with override_settings(JOBS={"other": ["tests.tasks.record"]}):
        assert run_due_schedules(now=utc(2026, 1, 10, 3, 0, 1)) == []
    schedule = Schedule.objects.get()
    assert "unknown job name 'basic'" in schedule.last_error
    assert schedule.next_run_at == utc(2026, 1, 11, 3)
    assert schedule.last_run_at is None


def test_a_failing_creation_hook_fails_that_occurrence_only(settings):
    # tests.tasks.fail raises ValueError("boom"), here as a creation hook.
    bad_hook = {"tasks": ["tests.tasks.record"], "creation_hook": "tests.tasks.fail"}
    settings.JOBS = {**settings.JOBS, "bad_hook": bad_hook}
    make("hooked", job_name="bad_hook", next_run_at=utc(2026, 1, 10, 3))
    make("plain", next_run_at=utc(2026, 1, 10, 3))
    jobs = run_due_schedules(now=utc(2026, 1, 10, 3, 0, 1))
    assert [job.name for job in jobs] == ["basic"]
    hooked = Schedule.objects.get(name="hooked")
    assert "ValueError: boom" in hooked.last_error
    assert hooked.next_run_at == utc(2026, 1, 11, 3)


def test_an_occurrence_already_spawned_is_not_spawned_again_when_next_run_is_moved_back():
    schedule = make(next_run_at=utc(2026, 1, 10, 3))
    run_due_schedules(now=utc(2026, 1, 10, 3, 0, 1))
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=utc(2026, 1, 10, 3))
    assert run_due_schedules(now=utc(2026, 1, 10, 3, 0, 2)) == []
    assert Job.objects.count() == 1
    assert Schedule.objects.get().next_run_at == utc(2026, 1, 11, 3)


def test_a_row_with_a_broken_rule_is_parked_with_its_error():
    schedule = make(next_run_at=utc(2026, 1, 10, 3))
    Schedule.objects.filter(pk=schedule.pk).update(cron="not a cron")
    assert run_due_schedules(now=utc(2026, 1, 10, 3, 0, 1)) == []
    schedule.refresh_from_db()
    assert schedule.next_run_at is None
    assert "not a cron" in schedule.last_error


def test_trigger_enqueues_a_job_now_and_keeps_the_next_run():
    schedule = make(next_run_at=utc(2030, 1, 1, 3), workspace={"manual": True})
    job = schedule.trigger()
    assert (job.schedule, job.scheduled_for, job.workspace) == (schedule, None, {"manual": True})
    schedule.refresh_from_db()
    assert schedule.next_run_at == utc(2030, 1, 1, 3)
    assert schedule.last_run_at is not None


def test_deleting_a_schedule_keeps_the_jobs_it_spawned():
    schedule = make(next_run_at=utc(2026, 1, 10, 3))
    [job] = run_due_schedules(now=utc(2026, 1, 10, 3, 0, 1))
    schedule.delete()
    job.refresh_from_db()
    assert job.schedule is None
    assert job.scheduled_for == utc(2026, 1, 10, 3)


def test_spawned_jobs_run_like_any_other():
    from django_dbq.worker import Worker

    make(next_run_at=utc(2026, 1, 10, 3))
    run_due_schedules(now=utc(2026, 1, 10, 3, 0, 1))
    Worker(scheduler=False).run_batch()
    assert Job.objects.get().state == JobState.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_an_occurrence_spawn_one_job():
    schedule = make(next_run_at=utc(2026, 1, 10, 3))
    racers = 6
    barrier = threading.Barrier(racers)
    spawned: list = []
    errors: list = []

    def race():
        try:
            barrier.wait()
            spawned.extend(spawn_due(schedule.pk, utc(2026, 1, 10, 3), utc(2026, 1, 10, 3, 0, 1)))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(spawned) == 1
    assert Job.objects.filter(schedule=schedule).count() == 1


def test_the_due_query_uses_one_statement_when_nothing_is_due(django_assert_num_queries):
    make(next_run_at=utc(2030, 1, 1))
    with django_assert_num_queries(1):
        run_due_schedules(now=utc(2026, 1, 1))


def test_timezone_now_is_the_default_clock():
    make(next_run_at=timezone.now() - datetime.timedelta(seconds=1))
    assert len(run_due_schedules()) == 1
