"""job.save() from inside a task writes the task's data, only while the lease holds."""

import datetime

import pytest
from django.utils import timezone

from django_dbq.exceptions import LeaseLost
from django_dbq.executor import run_step
from django_dbq.models import Job, JobState
from tests.db.test_job_actions import LEASE
from tests.db.test_job_actions import claimed as held

pytestmark = pytest.mark.django_db


def claimed(name: str, **fields) -> Job:
    """A new job as a worker holds it while its step runs."""
    return held(Job.objects.create(name=name, **fields))


def test_a_task_saving_its_job_persists_the_workspace_and_the_step_goes_on():
    job = claimed("saves_itself")
    assert run_step(job, LEASE).kind == "advanced"
    job.refresh_from_db()
    assert job.state == JobState.READY and job.step == 1
    assert job.workspace == {"saved_mid_step": True, "after_save": True}


def test_a_save_after_a_cancel_cannot_undo_it():
    job = claimed("cancelled_then_saved")
    outcome = run_step(job, LEASE)
    job.refresh_from_db()
    assert outcome.kind == "cancelled"
    assert job.state == JobState.CANCELLED
    assert "after_cancel" not in (job.workspace or {})


def test_a_save_by_a_worker_that_lost_its_lease_writes_nothing():
    job = claimed("basic", workspace={"mine": False})
    Job.objects.filter(pk=job.pk).update(lease_owner="worker-2", workspace={"theirs": True})
    job.workspace["mine"] = True
    with pytest.raises(LeaseLost, match="no longer running under lease 'worker-1'"):
        job.save()
    job.refresh_from_db()
    assert (job.lease_owner, job.workspace) == ("worker-2", {"theirs": True})


def test_a_tasks_save_keeps_the_lease_the_heartbeat_renewed():
    job = claimed("basic")
    renewed = timezone.now() + datetime.timedelta(hours=1)
    Job.objects.filter(pk=job.pk).update(lease_expires_at=renewed)  # the heartbeat, meanwhile
    job.workspace = {"progress": 50}
    job.save()
    job.refresh_from_db()
    assert job.lease_expires_at == renewed
    assert job.workspace == {"progress": 50}


def test_a_task_cannot_save_the_columns_of_its_worker():
    job = claimed("basic")
    with pytest.raises(ValueError, match="state belong to its worker"):
        job.save(update_fields=["workspace", "state"])


def test_update_fields_limits_what_a_running_jobs_save_writes():
    job = claimed("basic", workspace={"a": 1}, priority=1)
    job.workspace = {"a": 2}
    job.priority = 9
    job.save(update_fields=["workspace"])
    job.refresh_from_db()
    assert (job.workspace, job.priority) == ({"a": 2}, 1)
