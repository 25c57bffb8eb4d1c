"""Every write of a step is guarded by the lease the job was claimed under, whatever the task
does to its in-memory job (refresh_from_db() after a takeover included)."""

import pytest

from django_dbq import transitions
from django_dbq.exceptions import LeaseLost
from django_dbq.executor import LOST, run_step
from django_dbq.models import Job, JobState
from django_dbq.worker import Worker

pytestmark = pytest.mark.django_db


def test_a_failure_after_the_task_reloaded_a_taken_over_job_writes_nothing():
    job = Job.objects.create(name="taken_over")
    worker = Worker("default")
    (claimed,) = worker._claim(1)

    outcome = run_step(claimed, worker.lease)

    assert outcome.kind == LOST
    row = Job.objects.get(pk=job.pk)
    # Still the new owner's, running: not READY for a third worker to run beside it.
    assert (row.state, row.lease_owner, row.last_error) == (JobState.PROCESSING, "worker-B", "")


def test_a_save_after_the_task_reloaded_a_taken_over_job_is_refused():
    job = Job.objects.create(name="basic")
    worker = Worker("default")
    (claimed,) = worker._claim(1)
    transitions.bind(claimed, worker.worker_id)
    Job.objects.filter(pk=job.pk).update(lease_owner="worker-B")
    claimed.refresh_from_db()
    claimed.workspace = {"overwritten": True}

    with pytest.raises(LeaseLost):
        claimed.save()
    assert Job.objects.get(pk=job.pk).workspace == {}
