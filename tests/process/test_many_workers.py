"""Real `manage.py worker` processes share the queue: every step runs exactly once."""

import os
import subprocess
from collections import Counter

import pytest

from django_dbq.models import Job, JobState
from tests.models import StepRun

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

JOBS = int(os.environ.get("DBQ_PROCESS_TEST_JOBS", 2000))
WORKERS = 4


def test_four_workers_run_every_step_of_every_job_exactly_once(manage):
    Job.objects.enqueue_many([Job(name="process_pipeline") for _ in range(JOBS)])
    workers = [manage("worker", "--burst", "--batch-size", "5") for _ in range(WORKERS)]
    for worker in workers:
        try:
            out, err = worker.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            pytest.fail("a worker did not drain the queue within 10 minutes")
        assert worker.returncode == 0, err

    assert Job.objects.count() == JOBS
    assert Counter(Job.objects.values_list("state", flat=True)) == {JobState.COMPLETED: JOBS}
    runs = Counter(StepRun.objects.values_list("job_id", "step"))
    assert len(runs) == JOBS * 3, "some step never ran"
    assert set(runs.values()) == {1}, "some step ran more than once"
    workspaces = {tuple(w["steps"]) for w in Job.objects.values_list("workspace", flat=True)}
    assert workspaces == {("a", "b", "c")}
    # The work was shared: each worker process ran some of it.
    owners = set(Job.objects.values_list("lease_owner", flat=True))
    assert len(owners) > 1
