"""Real `manage.py worker` processes share the queue: every step runs exactly once."""

import os

import pytest

from django_dbq.models import Job
from tests.process.drain_checks import (
    assert_every_pipeline_step_ran_exactly_once,
    wait_for_clean_exits,
)

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

JOBS = int(os.environ.get("DBQ_PROCESS_TEST_JOBS", 2000))
WORKERS = 4


def test_four_workers_run_every_step_of_every_job_exactly_once(manage):
    Job.objects.enqueue_many([Job(name="process_pipeline") for _ in range(JOBS)])
    workers = [manage("worker", "--burst", "--batch-size", "5") for _ in range(WORKERS)]
    wait_for_clean_exits(workers)

    assert_every_pipeline_step_ran_exactly_once(JOBS)
    # The work was shared: each worker process ran some of it.
    owners = set(Job.objects.values_list("lease_owner", flat=True))
    assert len(owners) > 1
