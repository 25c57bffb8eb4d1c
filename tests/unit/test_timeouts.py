"""A step's time limit interrupts it with StepTimeout."""

import signal
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
    handler = signal.getsignal(signal.SIGALRM)
    with time_limit(None):
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # no timer is running
        assert signal.getsignal(signal.SIGALRM) is handler  # and no handler was installed


def in_a_thread(function):
    """Run ``function`` in a new (non-main) thread; returns what it returned or raised."""
    import threading

    outcome = {}

    def target():
        try:
            outcome["value"] = function()
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the thread never finished"
    return outcome


def busy(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_worker_threads_block_over_its_limit_is_interrupted():
    def step():
        with time_limit(0.05):
            busy(10)

    outcome = in_a_thread(step)
    assert isinstance(outcome.get("error"), StepTimeout)
    assert "timeout of 0.05 seconds" in str(outcome["error"])


def test_a_worker_threads_block_within_its_limit_is_never_interrupted_afterwards():
    def step():
        with time_limit(0.2):
            value = 42
        busy(0.4)  # after the block, past its deadline: nothing may fire here
        return value

    assert in_a_thread(step) == {"value": 42}


def test_a_step_that_swallows_the_timeout_still_fails_by_it():
    def step():
        with time_limit(0.05):
            try:
                busy(10)
            except StepTimeout:
                pass  # a task's careless `except Exception`

    assert isinstance(in_a_thread(step).get("error"), StepTimeout)


def test_a_call_blocked_in_c_is_stopped_once_it_returns():
    def step():
        with time_limit(0.05):
            time.sleep(0.3)  # one C call: the exception waits until it returns
            busy(10)

    assert isinstance(in_a_thread(step).get("error"), StepTimeout)


def test_another_exception_from_a_timed_out_step_is_kept():
    def step():
        with time_limit(0.05):
            try:
                busy(10)
            except StepTimeout as error:
                raise KeyError("the task's own error") from error

    assert isinstance(in_a_thread(step).get("error"), KeyError)
