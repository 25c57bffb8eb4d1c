"""Retry backoff: exponential from the base, capped, jittered into [50%, 100%]."""

from django_dbq.executor import backoff_seconds
from django_dbq.registry import JobSpec


def spec(**options):
    return JobSpec(name="j", tasks=("a.b",), **options)


def test_backoff_doubles_per_attempt():
    top = lambda: 1.0  # noqa: E731  (the upper end of the jitter)
    delays = [backoff_seconds(spec(retry_backoff=2), attempt, rand=top) for attempt in (1, 2, 3)]
    assert delays == [2, 4, 8]


def test_backoff_is_capped():
    assert backoff_seconds(spec(retry_backoff=2, retry_backoff_max=5), 10, rand=lambda: 1.0) == 5


def test_jitter_keeps_at_least_half_the_delay():
    assert backoff_seconds(spec(retry_backoff=2), 1, rand=lambda: 0.0) == 1
