"""Test settings plus jobs under concurrency and rate limits (flow control)."""

from testsettings import *  # noqa: F403
from testsettings import JOBS as BASE_JOBS

LIMITED_JOBS = {
    "two_per_account": {
        "tasks": ["tests.tasks.record_span"],
        "concurrency": {"key": ["account"], "limit": 2},
    },
    "twenty_per_second": {"tasks": ["tests.tasks.record_span"], "rate_limit": "20/s"},
    "one_per_account": {
        "tasks": ["tests.tasks.record_start_and_end"],
        "concurrency": {"key": ["account"], "limit": 1},
    },
}
JOBS = {**BASE_JOBS, **LIMITED_JOBS}
