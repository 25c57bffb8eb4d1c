"""Flow control options of a JOBS entry: parsing, validation and the concurrency key."""

import pytest

from django_dbq.exceptions import InvalidWorkspaceError
from django_dbq.flow import (
    Concurrency,
    RateLimit,
    concurrency_key_for,
    parse_concurrency,
    parse_rate_limit,
    rate_scope,
)
from django_dbq.registry import Registry


def test_a_concurrency_with_a_key_and_a_limit_parses():
    assert parse_concurrency({"key": ["account_id"], "limit": 2}) == (
        Concurrency(limit=2, key=("account_id",)),
        "",
    )


def test_a_concurrency_without_a_key_caps_the_job_name():
    assert parse_concurrency({"limit": 1}) == (Concurrency(limit=1), "")


@pytest.mark.parametrize("limit", [0, -1, 1.5, "2", True, None])
def test_a_concurrency_limit_must_be_a_whole_number_of_at_least_one(limit):
    spec, problem = parse_concurrency({"limit": limit})
    assert spec is None and "'limit' must be a whole number from 1" in problem


@pytest.mark.parametrize("key", ["account_id", [""], [1], ["a", "a"]])
def test_a_key_must_be_a_list_of_distinct_field_names(key):
    spec, problem = parse_concurrency({"key": key, "limit": 1})
    assert spec is None and "'key'" in problem


def test_a_concurrency_with_unknown_keys_is_refused():
    assert "unknown keys ['limt']" in parse_concurrency({"limt": 1})[1]


@pytest.mark.parametrize(
    "rate, expected",
    [("100/m", (100, 60)), ("20/s", (20, 1)), ("5/h", (5, 3600)), (" 3 / s ", (3, 1))],
)
def test_rates_per_second_minute_and_hour_parse(rate, expected):
    spec, problem = parse_rate_limit(rate)
    assert (spec.count, spec.seconds, problem) == (*expected, "")


def test_a_rate_limit_may_be_keyed():
    assert parse_rate_limit({"rate": "10/s", "key": ["account_id"]}) == (
        RateLimit(count=10, seconds=1, key=("account_id",)),
        "",
    )


@pytest.mark.parametrize("rate", ["100", "100/d", "x/m", "0/m", "-1/s", 100, None, "1.5/s"])
def test_an_unparsable_rate_is_refused(rate):
    spec, problem = parse_rate_limit(rate)
    assert spec is None and "rate" in problem


def test_the_key_of_a_keyed_job_holds_its_name_and_values():
    key = concurrency_key_for("sync", ("account", "region"), {"account": 7, "region": "eu"})
    assert key == 'sync\x1f[7,"eu"]'


def test_a_job_wide_key_is_the_job_name():
    assert concurrency_key_for("sync", (), {"account": 7}) == "sync"


def test_a_missing_key_field_names_the_job_and_the_field():
    with pytest.raises(InvalidWorkspaceError, match="job 'sync' has no 'account'"):
        concurrency_key_for("sync", ("account",), {})


def test_a_job_wide_rate_of_a_keyed_job_counts_the_job_name():
    rate = RateLimit(count=10, seconds=60)
    assert rate_scope("sync", "sync\x1f[7]", rate, Concurrency(limit=1, key=("a",))) == "sync"
    assert rate_scope("sync", "sync", rate, None) == "sync"
    keyed = RateLimit(count=10, seconds=60, key=("a",))
    assert rate_scope("sync", "sync\x1f[7]", keyed, None) == "sync\x1f[7]"


def problems_of(entry):
    registry = Registry({"j": {"tasks": ["tests.tasks.record"], **entry}})
    return [(p.check_id, p.message) for p in registry.problems.get("j", [])]


def test_the_registry_reports_a_bad_concurrency_as_e011():
    [(check_id, message)] = problems_of({"concurrency": {"limit": 0}})
    assert check_id == "E011" and "JOBS['j']['concurrency']" in message


def test_the_registry_reports_a_bad_rate_limit_as_e012():
    [(check_id, message)] = problems_of({"rate_limit": "fast"})
    assert check_id == "E012" and "'fast'" in message


def test_the_registry_reports_different_keys_of_the_two_limits_as_e013():
    entry = {
        "concurrency": {"key": ["a"], "limit": 1},
        "rate_limit": {"rate": "1/s", "key": ["b"]},
    }
    assert [check_id for check_id, _ in problems_of(entry)] == ["E013"]


def test_the_registry_lists_only_the_limited_jobs():
    registry = Registry(
        {
            "plain": ["tests.tasks.record"],
            "capped": {"tasks": ["tests.tasks.record"], "concurrency": {"limit": 3}},
        }
    )
    assert list(registry.limited) == ["capped"]
    assert registry.specs["capped"].key_fields == ()
