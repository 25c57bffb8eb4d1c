"""A step's time limit interrupts it with StepTimeout."""

import time

import pytest

from django_dbq.exceptions import StepTimeout
from django_dbq.timeouts import time_limit


def test_block_over_its_limit_is_interrupted():
    with pytest.raises(StepTimeout, match="timeout of 0.05 seconds"):
        with time_limit(0.05):
            time.sleep(2)


def test_block_within_its_limit_runs_to_the_end():
    with time_limit(1):
        value = 42
    assert value == 42


def test_no_limit_means_no_alarm():
    with time_limit(None):
        pass
