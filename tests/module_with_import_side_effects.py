"""A module of an installed app that no code imports; importing it has a side effect.

A task job's row naming a path in it must fail without importing it (tests/db/test_backends.py).
"""

import os

os.environ["DBQ_TESTS_SIDE_EFFECT_MODULE_IMPORTED"] = "1"


def delete_everything():
    """Not a task, and never to be run from a job row."""
    raise AssertionError("a job row ran a function of a module it named")
