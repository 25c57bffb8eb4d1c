"""Signals to real `manage.py worker` processes: the shutdown and crash promises.

SIGTERM / SIGINT let the running step finish, then the worker exits; a second signal stops it at
once and the step is rescued later; a SIGKILLed worker's step is rescued by another worker.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import pytest

from django_dbq.models import Job, JobState
from tests.models import StepRun

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

# Workers here hold leases of 1 second, so a dead worker's step is rescued within seconds.
SHORT_LEASE = {"DBQ_LEASE_SECONDS": "1"}
WAIT = 60  # the most seconds any wait below takes; they usually take one or two


def wait_for(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def step_started(job: Job, times: int = 1) -> Callable[[], bool]:
    """True once the slow step of ``job`` has started ``times`` times."""
    return lambda: StepRun.objects.filter(job_id=job.pk, step="started").count() >= times


def state_of(job: Job) -> Callable[[], str]:
    return lambda: Job.objects.values_list("state", flat=True).get(pk=job.pk)


def exit_code(worker: subprocess.Popen, timeout: float = WAIT) -> int:
    """The worker's exit code; fails the test if it does not exit within ``timeout``."""
    try:
        worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"worker pid={worker.pid} did not exit within {timeout} s")
    return worker.returncode


def test_sigterm_lets_the_running_step_finish_and_be_saved_then_the_worker_exits_0(manage):
    job = Job.objects.create(name="process_slow", workspace={"seconds": 3})
    worker = manage("worker", env=SHORT_LEASE)
    wait_for(step_started(job), "the slow step to start")

    worker.send_signal(signal.SIGTERM)

    assert exit_code(worker) == 0
    job.refresh_from_db()
    # The step that was running finished and was saved; the next one was not started.
    assert (job.state, job.step, job.workspace["steps"]) == (JobState.READY, 1, ["a"])
    runs = StepRun.objects.filter(job_id=job.pk).order_by("pk")
    assert list(runs.values_list("step", flat=True)) == ["started", "a"]
    assert job.rescues == 0


def test_second_signal_exits_at_once_and_another_worker_rescues_the_step(manage):
    job = Job.objects.create(name="process_slow", workspace={"seconds": 30})
    first = manage("worker", env=SHORT_LEASE)
    wait_for(step_started(job), "the slow step to start")

    first.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    signalled = time.monotonic()
    first.send_signal(signal.SIGINT)

    # It did not wait for the 30-second step.
    assert exit_code(first, timeout=10) != 0
    assert time.monotonic() - signalled < 10
    assert state_of(job)() == JobState.PROCESSING  # left to its lease
    second = manage("worker", env=SHORT_LEASE)
    wait_for(lambda: state_of(job)() == JobState.COMPLETED, "the rescued job to complete")
    second.send_signal(signal.SIGTERM)
    assert exit_code(second) == 0
    job.refresh_from_db()
    assert job.rescues == 1
    assert job.workspace["steps"] == ["a", "b"]
    assert f":{second.pid}:" in job.lease_owner
    # The interrupted run never got to its write; the rescued run did, once.
    assert StepRun.objects.filter(job_id=job.pk, step="started").count() == 2
    assert StepRun.objects.filter(job_id=job.pk, step="a").count() == 1


def test_sigkilled_workers_step_is_rescued_and_completed_by_another_worker(manage):
    job = Job.objects.create(name="process_slow", workspace={"seconds": 30})
    first = manage("worker", env=SHORT_LEASE)
    wait_for(step_started(job), "the slow step to start")

    first.kill()
    first.communicate(timeout=WAIT)

    second = manage("worker", env=SHORT_LEASE)
    wait_for(lambda: state_of(job)() == JobState.COMPLETED, "the rescued job to complete")
    second.send_signal(signal.SIGTERM)
    assert exit_code(second) == 0
    job.refresh_from_db()
    assert job.rescues == 1
    assert job.workspace["steps"] == ["a", "b"]
    assert f":{second.pid}:" in job.lease_owner
    assert StepRun.objects.filter(job_id=job.pk, step="started").count() == 2
    assert StepRun.objects.filter(job_id=job.pk, step="a").count() == 1
