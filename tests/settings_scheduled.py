"""Test settings plus a schedule declared in JOBS, as a user would write it."""

from testsettings import *  # noqa: F403
from testsettings import JOBS as BASE_JOBS

JOBS = {
    **BASE_JOBS,
    "nightly_report": {"tasks": ["tests.tasks.record"], "schedules": ["0 3 * * *"]},
}
