"""What a real `manage.py worker` prints in a project without LOGGING: its human lines."""

from __future__ import annotations

import re
import signal
import time

import pytest

from django_dbq.models import Job
from tests.process.test_shutdown import step_started, wait_for

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

NO_LOGGING = {"DBQ_TEST_LOGGING": "none"}


def test_sigterm_prints_a_stopping_line_then_the_job_line_then_a_summary(manage):
    job = Job.objects.create(name="process_slow", workspace={"seconds": 2})
    worker = manage("worker", env=NO_LOGGING)
    wait_for(step_started(job), "the slow step to start")

    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=60)

    assert worker.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Starting job worker ")
    assert lines[1].endswith(
        "stopping: finishing the running step(s); send the signal again to exit now"
    )
    assert re.search(
        r"worker stopped: 1 step, 0 job\(s\) completed, 0 failed, in [\d.]+ s$", lines[-1]
    )


def test_a_second_signal_prints_that_the_worker_exits_now(manage):
    job = Job.objects.create(name="process_slow", workspace={"seconds": 30})
    worker = manage("worker", env=NO_LOGGING)
    wait_for(step_started(job), "the slow step to start")

    worker.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)

    out, _ = worker.communicate(timeout=10)
    assert worker.returncode != 0
    assert out.splitlines()[-1].endswith(
        "second signal: exiting now; the running step(s) will be rescued"
    )


def test_a_burst_worker_prints_a_line_per_job_and_a_summary(manage):
    Job.objects.create(name="three_steps")
    Job.objects.create(name="failing")
    worker = manage("worker", "--burst", env=NO_LOGGING)
    out, err = worker.communicate(timeout=60)

    assert worker.returncode == 0, err
    assert re.search(r"job three_steps \S+ completed in [\d.]+ s \(3 steps\)", out)
    assert re.search(r"job failing \S+ failed at step 1/1 after 1 attempt .*ValueError: boom", out)
    assert "worker stopped: 4 steps, 1 job(s) completed, 1 failed" in out
    # Errors reach stderr with time and level, not through Python's last-resort handler.
    assert re.search(r"\d\d:\d\d:\d\d ERROR django_dbq.executor event=step_failed job=failing", err)


def test_a_worker_before_migrate_exits_at_once_with_the_hint(manage, tmp_path):
    worker = manage("worker", env={**NO_LOGGING, "DATABASE_URL": f"sqlite:///{tmp_path}/new.db"})
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 1
    assert "has no table django_dbq_job" in err and "run `manage.py migrate` first" in err
