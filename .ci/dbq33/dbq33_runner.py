"""Django's test runner, with the 3.3 tests this package deliberately fails marked as expected.

Each entry is explained in docs/upgrading.md ("Running your 3.x tests"). An entry that starts
passing is an unexpected success, which fails the run: then the entry and the docs are stale.
"""

import unittest

from django.test.runner import DiscoverRunner

DELIBERATE_DIFFERENCES = {
    # STOPPING now means "cancelled while a step runs": a stop signal must not cancel the job.
    "django_dbq.tests.ShutdownTestCase.test_shutdown_sets_state_to_stopping",
}


class Runner(DiscoverRunner):
    """Marks DELIBERATE_DIFFERENCES as expected failures."""

    def build_suite(self, *args, **kwargs):
        suite = super().build_suite(*args, **kwargs)
        for test in _cases(suite):
            if test.id() in DELIBERATE_DIFFERENCES:
                # unittest reads this flag from the test case instance as well as the method.
                test.__unittest_expecting_failure__ = True
        return suite


def _cases(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _cases(test)
        else:
            yield test
