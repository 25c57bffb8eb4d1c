"""Real `manage.py worker --concurrency N` processes: threads share the queue with processes."""

import os
import signal
import subprocess
from collections import Counter

import pytest

from django_dbq.models import Job, JobState
from tests.models import StepRun
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
    for worker in workers:
        try:
            out, err = worker.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            pytest.fail("a worker did not drain the queue within 10 minutes")
        assert worker.returncode == 0, err

    assert Counter(Job.objects.values_list("state", flat=True)) == {JobState.COMPLETED: JOBS}
    runs = Counter(StepRun.objects.values_list("job_id", "step"))
    assert len(runs) == JOBS * 3, "some step never ran"
    assert set(runs.values()) == {1}, "some step ran more than once"
    workspaces = {tuple(w["steps"]) for w in Job.objects.values_list("workspace", flat=True)}
    assert workspaces == {("a", "b", "c")}


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
