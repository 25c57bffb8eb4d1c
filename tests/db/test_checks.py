"""System checks report a broken JOBS setting with stable ids."""

import pytest
from django.core import checks

pytestmark = pytest.mark.django_db


def ids_for(settings, jobs):
    settings.JOBS = jobs
    return sorted(m.id for m in checks.run_checks(tags=["django_dbq"]))


def test_valid_jobs_pass(settings):
    assert ids_for(settings, settings.JOBS) == []


def test_unimportable_path_is_e005(settings):
    assert ids_for(settings, {"j": ["tests.tasks.missing"]}) == ["django_dbq.E005"]


def test_a_task_path_that_is_not_dotted_is_one_e005(settings):
    # Reported by the registry, and not once more as a path that does not import.
    assert ids_for(settings, {"j": ["a"]}) == ["django_dbq.E005"]


def test_non_callable_path_is_e006(settings):
    assert ids_for(settings, {"j": ["tests.tasks.CALLS"]}) == ["django_dbq.E006"]


def test_unknown_key_and_empty_tasks(settings):
    assert ids_for(settings, {"j": {"tasks": [], "retires": 1}}) == [
        "django_dbq.E003",
        "django_dbq.E004",
    ]


def test_invalid_schema_is_e007(settings):
    jobs = {"j": {"tasks": ["tests.tasks.record"], "workspace_schema": {"type": 5}}}
    assert ids_for(settings, jobs) == ["django_dbq.E007"]


def test_bad_hook_path_is_reported_with_the_path(settings):
    settings.JOBS = {"j": {"tasks": ["tests.tasks.record"], "failure_hook": "tests.tasks.nope"}}
    (message,) = checks.run_checks(tags=["django_dbq"])
    assert message.id == "django_dbq.E005" and "tests.tasks.nope" in message.msg


def test_database_check_accepts_this_database():
    from django_dbq.checks import check_database

    assert check_database(databases=["default"]) == []


def test_flow_control_problems_have_their_own_ids(settings):
    jobs = {
        "a": {"tasks": ["tests.tasks.record"], "concurrency": {"key": "account", "limit": 2}},
        "b": {"tasks": ["tests.tasks.record"], "rate_limit": "100/day"},
        "c": {
            "tasks": ["tests.tasks.record"],
            "concurrency": {"key": ["x"], "limit": 2},
            "rate_limit": {"rate": "1/s", "key": ["y"]},
        },
    }
    assert ids_for(settings, jobs) == ["django_dbq.E011", "django_dbq.E012", "django_dbq.E013"]
