"""django_dbq.testing runs jobs through the real claim, quota and transitions."""

import pytest

from django_dbq.models import Job, JobState
from django_dbq.testing import TEST_OWNER, drain, run_job

pytestmark = pytest.mark.django_db


def test_drain_stops_after_max_steps():
    jobs = [Job.objects.create(name="three_steps") for _ in range(3)]

    assert drain(max_steps=4) == 4

    steps = sorted(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("step", flat=True))
    assert sum(steps) == 4


def test_run_job_claims_as_a_worker_does():
    job = Job.objects.create(name="three_steps")
    created = job.modified

    job = run_job(job)

    assert job.state == JobState.COMPLETED
    assert job.started_at is not None and job.modified > created
    assert job.lease_owner == TEST_OWNER
