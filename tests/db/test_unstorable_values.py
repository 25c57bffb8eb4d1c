"""A step that leaves a value the database cannot store fails alone, saying why.

NaN and Infinity are not JSON (PostgreSQL and SQLite's JSON_VALID refuse them) and PostgreSQL's
jsonb refuses the NUL character. Such a value used to reach the grouped outcome write, which the
database refused as a whole: the worker took it for an outage and every job of the group was
rescued until it failed with a misleading "worker stopped" error.
"""

import math

import pytest

from django_dbq import transitions
from django_dbq.exceptions import InvalidWorkspaceError
from django_dbq.models import Job, JobState
from django_dbq.testing import drain

pytestmark = pytest.mark.django_db


def test_a_step_leaving_nan_fails_alone_and_its_neighbours_complete():
    before = Job.objects.create(name="basic")
    bad = Job.objects.create(name="leaves_nan")
    after = Job.objects.create(name="basic")

    drain()

    bad.refresh_from_db()
    assert bad.state == JobState.FAILED
    assert "job.workspace" in bad.last_error and "Out of range float" in bad.last_error
    assert bad.rescues == 0
    assert bad.workspace == {}  # the row keeps the workspace from before the step
    for job in (before, after):
        job.refresh_from_db()
        assert job.state == JobState.COMPLETED


def test_a_step_leaving_a_nul_character_fails_alone_on_every_database():
    bad = Job.objects.create(name="leaves_nul")
    fine = Job.objects.create(name="basic")

    drain()

    bad.refresh_from_db()
    fine.refresh_from_db()
    assert bad.state == JobState.FAILED and "job.result" in bad.last_error
    assert "NUL" in bad.last_error
    assert fine.state == JobState.COMPLETED


def test_a_value_the_database_refuses_in_a_grouped_write_fails_only_its_job(monkeypatch):
    # As if a value slipped past the step's own check: the database refuses the group, and
    # the outcomes are then written one by one.
    monkeypatch.setattr(transitions, "check_storable", lambda job: None)
    before = Job.objects.create(name="basic")
    bad = Job.objects.create(name="leaves_nan")
    after = Job.objects.create(name="basic")

    drain()

    bad.refresh_from_db()
    assert bad.state == JobState.FAILED, bad.last_error
    assert "refused" in bad.last_error
    assert bad.rescues == 0
    for job in (before, after):
        job.refresh_from_db()
        assert job.state == JobState.COMPLETED


@pytest.mark.parametrize(
    "value, problem",
    [
        ({"x": math.inf}, "Out of range"),
        ({"x": "\x00"}, "NUL"),
        ({"x": "\ud800"}, "surrogate"),
        ({"x": {1, 2}}, "not JSON serializable"),
    ],
)
def test_storable_problem_names_the_problem(value, problem):
    assert problem in transitions.storable_problem(value)


@pytest.mark.parametrize("value", [{"x": "C:\\u0000"}, {"x": "\ud83d\ude00"}, {"x": "😀"}, {}])
def test_storable_problem_accepts_what_every_database_stores(value):
    assert transitions.storable_problem(value) is None


def test_enqueueing_a_workspace_with_a_nul_character_is_refused_on_every_database():
    from django_dbq.exceptions import InvalidWorkspaceError

    with pytest.raises(InvalidWorkspaceError, match="NUL"):
        Job.objects.create(name="basic", workspace={"text": "a\x00b"})
    assert not Job.objects.exists()


def test_enqueueing_a_workspace_with_a_non_string_key_is_refused_naming_the_key():
    with pytest.raises(
        InvalidWorkspaceError, match=r"dict key 1 \(int\) at /by_id is not a string"
    ):
        Job.objects.create(name="basic", workspace={"by_id": {1: "x"}})
    assert not Job.objects.exists()


def test_a_step_leaving_a_non_string_key_fails_naming_the_key():
    job = Job.objects.create(name="leaves_int_key")
    drain()
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert "dict key 1 (int) at /by_id is not a string" in job.last_error


def test_storable_problem_says_how_a_non_string_key_would_read_back():
    problem = transitions.storable_problem({1: "x"})
    assert problem == "dict key 1 (int) is not a string: JSON would read it back as '1'"
