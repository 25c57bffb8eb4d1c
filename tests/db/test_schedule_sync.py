"""Schedules declared in JOBS: validation (system checks) and syncing into the table."""

import datetime
import re
import threading
from unittest import mock

import pytest
from django.db import connections
from django.test import override_settings

from django_dbq.checks import check_jobs
from django_dbq.models import Schedule
from django_dbq.registry import get_registry
from django_dbq.schedule_sync import sync_declared_schedules

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def jobs_with(schedules, **entry):
    return {"nightly": {"tasks": ["tests.tasks.record"], "schedules": schedules, **entry}}


def sync(now=NOW):
    with mock.patch("django.utils.timezone.now", return_value=now):
        return sync_declared_schedules(now=now)


# -- declarations and checks -----------------------------------------------------------------


def test_a_cron_string_declares_a_schedule_named_like_its_job():
    with override_settings(JOBS=jobs_with(["0 3 * * *"])):
        [spec] = get_registry().schedules()
    assert (spec.name, spec.job_name, spec.cron, spec.interval) == (
        "nightly",
        "nightly",
        "0 3 * * *",
        None,
    )


def test_a_single_string_or_dict_is_accepted_as_well_as_a_list():
    with override_settings(JOBS=jobs_with("0 3 * * *")):
        assert len(get_registry().schedules()) == 1
    with override_settings(JOBS=jobs_with({"name": "often", "interval": "15m"})):
        [spec] = get_registry().schedules()
    assert spec.interval == datetime.timedelta(minutes=15)


@pytest.mark.parametrize(
    "schedules, complaint",
    [
        (["0 25 * * *"], "invalid cron expression '0 25 \\* \\* \\*'"),
        ([{"name": "x"}], "give exactly one of 'cron' and 'interval'"),
        ([{"cron": "@daily", "interval": 60}], "give exactly one of 'cron' and 'interval'"),
        ([{"interval": "soon"}], "invalid interval 'soon'"),
        ([{"cron": "@daily", "every": 5}], "unknown keys \\['every'\\]"),
        ([{"cron": "@daily", "catch_up": "maybe"}], "'catch_up' must be one of"),
        ([{"cron": "@daily", "priority": "high"}], "'priority' must be an integer"),
        ([{"cron": "@daily", "enabled": "yes"}], "'enabled' must be True or False"),
        ([{"cron": "@daily", "workspace": [1]}], "'workspace' must be a dict"),
        (["@daily", "@hourly"], "same name"),
        ([42], "entries must be cron strings or dicts"),
    ],
)
def test_invalid_declarations_fail_the_system_check_with_id_e010(schedules, complaint):
    with override_settings(JOBS=jobs_with(schedules)):
        messages = check_jobs()
    assert [m.id for m in messages] == ["django_dbq.E010"] * len(messages)
    assert any(re.search(complaint, m.msg) for m in messages), messages


def test_a_declared_workspace_must_match_the_jobs_schema():
    schema = {"type": "object", "required": ["url"]}
    with override_settings(JOBS=jobs_with(["@daily"], workspace_schema=schema)):
        [message] = check_jobs()
    assert message.id == "django_dbq.E010"
    assert "'url' is a required property" in message.msg


def test_two_jobs_cannot_declare_schedules_with_the_same_name():
    jobs = {
        "a": {"tasks": ["tests.tasks.record"], "schedules": [{"name": "x", "cron": "@daily"}]},
        "b": {"tasks": ["tests.tasks.record"], "schedules": [{"name": "x", "cron": "@daily"}]},
    }
    with override_settings(JOBS=jobs):
        [message] = check_jobs()
    assert message.id == "django_dbq.E010"
    assert "declares too" in message.msg


def test_valid_declarations_pass_the_checks():
    schedules = ["0 3 * * *", {"name": "often", "interval": 90, "catch_up": "all"}]
    with override_settings(JOBS=jobs_with(schedules)):
        assert check_jobs() == []


# -- syncing -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sync_creates_declared_schedules():
    declared = [
        "0 3 * * *",
        {"name": "often", "interval": "15m", "workspace": {"a": 1}, "queue_name": "q"},
    ]
    with override_settings(JOBS=jobs_with(declared)):
        result = sync()
    assert result.created == ["nightly", "often"]
    nightly, often = Schedule.objects.order_by("name")
    assert nightly.next_run_at == datetime.datetime(2026, 1, 11, 3, tzinfo=UTC)
    assert nightly.from_settings and nightly.enabled
    assert (often.interval, often.workspace, often.queue_name) == (
        datetime.timedelta(minutes=15),
        {"a": 1},
        "q",
    )


@pytest.mark.django_db
def test_sync_is_idempotent_and_cheap_when_nothing_changed(django_assert_max_num_queries):
    with override_settings(JOBS=jobs_with(["0 3 * * *"])):
        sync()
        before = Schedule.objects.get()
        with django_assert_max_num_queries(2):
            result = sync(now=NOW + datetime.timedelta(hours=1))
    assert not result
    after = Schedule.objects.get()
    assert (after.modified, after.next_run_at) == (before.modified, before.next_run_at)


@pytest.mark.django_db
def test_a_changed_declaration_updates_the_row_and_a_new_rule_moves_the_next_run():
    with override_settings(JOBS=jobs_with(["0 3 * * *"])):
        sync()
    with override_settings(JOBS=jobs_with([{"cron": "0 13 * * *", "priority": 4}])):
        assert sync().updated == ["nightly"]
    schedule = Schedule.objects.get()
    assert (schedule.cron, schedule.priority) == ("0 13 * * *", 4)
    assert schedule.next_run_at == datetime.datetime(2026, 1, 10, 13, tzinfo=UTC)


@pytest.mark.django_db
def test_a_changed_workspace_keeps_the_next_run():
    with override_settings(JOBS=jobs_with(["0 3 * * *"])):
        sync()
    with override_settings(JOBS=jobs_with([{"cron": "0 3 * * *", "workspace": {"v": 2}}])):
        sync(now=NOW + datetime.timedelta(hours=1))
    schedule = Schedule.objects.get()
    assert schedule.workspace == {"v": 2}
    assert schedule.next_run_at == datetime.datetime(2026, 1, 11, 3, tzinfo=UTC)


@pytest.mark.django_db
def test_an_operator_disabling_a_declared_schedule_sticks_across_syncs():
    with override_settings(JOBS=jobs_with(["0 3 * * *"])):
        sync()
        Schedule.objects.get().disable()
        sync()
    with override_settings(JOBS=jobs_with([{"cron": "0 3 * * *", "priority": 1}])):
        sync()
    assert not Schedule.objects.get().enabled


@pytest.mark.django_db
def test_a_declaration_that_sets_enabled_applies_it():
    with override_settings(JOBS=jobs_with([{"cron": "0 3 * * *", "enabled": False}])):
        sync()
    assert not Schedule.objects.get().enabled
    with override_settings(JOBS=jobs_with([{"cron": "0 3 * * *", "enabled": True}])):
        sync()
    assert Schedule.objects.get().enabled


@pytest.mark.django_db
def test_a_schedule_no_longer_declared_is_removed_and_runtime_ones_are_kept():
    Schedule(name="made-at-runtime", job_name="basic", cron="@daily").save()
    with override_settings(JOBS={**jobs_with(["0 3 * * *"]), "basic": ["tests.tasks.record"]}):
        sync()
    undeclared = {"nightly": ["tests.tasks.record"], "basic": ["tests.tasks.record"]}
    with override_settings(JOBS=undeclared):
        assert sync().removed == ["nightly"]
    assert list(Schedule.objects.values_list("name", flat=True)) == ["made-at-runtime"]


@pytest.mark.django_db
def test_a_runtime_schedule_with_a_declared_name_is_taken_over_by_the_declaration():
    Schedule(name="nightly", job_name="basic", cron="@hourly").save()
    jobs = {**jobs_with(["0 3 * * *"]), "basic": ["tests.tasks.record"]}
    with override_settings(JOBS=jobs):
        assert sync().updated == ["nightly"]
    schedule = Schedule.objects.get()
    assert (schedule.job_name, schedule.cron, schedule.from_settings) == (
        "nightly",
        "0 3 * * *",
        True,
    )


@pytest.mark.django_db(transaction=True)
def test_many_workers_starting_at_once_sync_to_one_row_each():
    declared = ["0 3 * * *", {"name": "often", "interval": 60}]
    racers = 5
    barrier = threading.Barrier(racers)
    errors: list = []

    def start_worker():
        try:
            barrier.wait()
            sync_declared_schedules(now=NOW)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    with override_settings(JOBS=jobs_with(declared)):
        threads = [threading.Thread(target=start_worker) for _ in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert sorted(Schedule.objects.values_list("name", flat=True)) == ["nightly", "often"]
