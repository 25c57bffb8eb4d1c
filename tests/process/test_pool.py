"""Real `manage.py worker --concurrency N` processes: threads share the queue with processes."""

import os
import signal

import pytest

from django_dbq.models import Job, JobState
from tests.models import StepRun
from tests.process.drain_checks import (
    assert_every_pipeline_step_ran_exactly_once,
    wait_for_clean_exits,
)
from tests.process.test_shutdown import SHORT_LEASE, exit_code, step_started, wait_for

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

JOBS = int(os.environ.get("DBQ_PROCESS_TEST_JOBS", 2000)) // 2


def test_thread_pools_and_a_plain_worker_run_every_step_exactly_once(manage):
    Job.objects.enqueue_many([Job(name="process_pipeline") for _ in range(JOBS)])
    workers = [
        manage("worker", "--burst", "--batch-size", "5", "--concurrency", "3"),
        manage("worker", "--burst", "--batch-size", "5", "--concurrency", "2"),
        manage("worker", "--burst", "--batch-size", "5"),
    ]
    wait_for_clean_exits(workers)

    assert_every_pipeline_step_ran_exactly_once(JOBS)


def test_sigterm_lets_every_threads_running_step_finish_then_the_pool_exits_0(manage):
    jobs = [Job.objects.create(name="process_slow", workspace={"seconds": 3}) for _ in range(2)]
    pool = manage("worker", "--concurrency", "2", "--batch-size", "1", env=SHORT_LEASE)
    for job in jobs:
        wait_for(step_started(job), "both slow steps to start")

    pool.send_signal(signal.SIGTERM)

    assert exit_code(pool) == 0
    for job in jobs:
        job.refresh_from_db()
        # Each running step finished and was saved; the next one was not started.
        assert (job.state, job.step, job.workspace["steps"]) == (JobState.READY, 1, ["a"])
        assert list(
            StepRun.objects.filter(job_id=job.pk).order_by("pk").values_list("step", flat=True)
        ) == [
            "started",
            "a",
        ]
        assert job.rescues == 0
