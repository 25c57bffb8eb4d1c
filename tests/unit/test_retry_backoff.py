"""Retry backoff: exponential from the base, capped, jittered into [50%, 100%]; never overflows."""

import pytest
from django.test import override_settings

from django_dbq.registry import MAX_OPTION_SECONDS, JobSpec
from django_dbq.transitions import backoff_seconds


def spec(**options):
    return JobSpec(name="j", tasks=("a.b",), **options)


def top():
    """The upper end of the jitter."""
    return 1.0


def test_backoff_doubles_per_attempt():
    delays = [backoff_seconds(spec(retry_backoff=2), attempt, rand=top) for attempt in (1, 2, 3)]
    assert delays == [2, 4, 8]


def test_backoff_is_capped():
    assert backoff_seconds(spec(retry_backoff=2, retry_backoff_max=5), 10, rand=top) == 5


def test_jitter_keeps_at_least_half_the_delay():
    assert backoff_seconds(spec(retry_backoff=2), 1, rand=lambda: 0.0) == 1


@pytest.mark.parametrize("attempt", [1025, 1026, 5000, 10**6])
def test_backoff_never_overflows_however_many_attempts(attempt):
    # A float base: base * 2 ** 1025 would raise OverflowError.
    assert backoff_seconds(spec(retry_backoff=2.0, retry_backoff_max=60), attempt, rand=top) == 60


def test_a_tiny_base_still_doubles_up_to_the_cap():
    tiny = spec(retry_backoff=1e-300, retry_backoff_max=60)
    assert backoff_seconds(tiny, 1, rand=top) == 1e-300
    assert backoff_seconds(tiny, 2000, rand=top) == 60


@pytest.mark.parametrize("setting", [1e300, float("inf"), float("nan")])
def test_a_backoff_cap_setting_beyond_a_year_is_held_to_a_year(setting):
    with override_settings(DBQ_RETRY_BACKOFF_MAX=setting):
        delay = backoff_seconds(spec(retry_backoff=2), 1000, rand=top)
    assert delay == MAX_OPTION_SECONDS
