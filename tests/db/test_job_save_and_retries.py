"""What a task's job.save() does to a retry: a checkpoint the retry starts from.

A retry starts from the workspace as it was before the failed attempt, except what the task of
a non-atomic job saved with job.save() during that attempt: the save is written at once, so the
retry starts from the workspace as last saved. An atomic job's save rolls back with the attempt.
"""

import pytest

from django_dbq.models import Job, JobState
from django_dbq.testing import run_job

pytestmark = pytest.mark.django_db


def test_a_retry_starts_from_the_workspace_the_failed_attempt_saved():
    job = run_job(Job.objects.create(name="checkpoints", workspace={"checkpoint": 0}))
    assert job.state == JobState.READY  # the first attempt failed after its save
    assert job.workspace == {"checkpoint": 1}  # saved; what came after the save is not

    job = run_job(job)

    assert job.state == JobState.COMPLETED
    assert job.workspace == {"checkpoint": 2, "unsaved": True}


def test_an_atomic_jobs_save_rolls_back_with_its_failed_attempt():
    job = run_job(Job.objects.create(name="checkpoints_atomic", workspace={"checkpoint": 0}))
    assert job.state == JobState.READY
    assert job.workspace == {"checkpoint": 0}

    job = run_job(job)

    assert job.state == JobState.COMPLETED
    assert job.workspace == {"checkpoint": 1, "unsaved": True}
