"""A worker's ledger of held and lost leases follows each claim."""

import pytest
from django.db import OperationalError

from django_dbq.engine import engine_for
from django_dbq.models import Job, JobState
from django_dbq.worker import Worker

pytestmark = pytest.mark.django_db


def test_a_job_lost_in_a_failed_outcome_write_runs_in_full_when_claimed_again(
    monkeypatch, settings
):
    settings.DBQ_OUTCOME_DELAY = 60  # outcomes wait for the flush at the end of the batch
    job = Job.objects.create(name="three_steps")
    worker = Worker("default")
    engine = type(engine_for())
    write_outcomes = engine.write_outcomes
    failures = [OperationalError("the database went away")]

    def fail_once(self, outcomes):
        if failures:
            raise failures.pop()
        return write_outcomes(self, outcomes)

    monkeypatch.setattr(engine, "write_outcomes", fail_once)

    with pytest.raises(OperationalError):
        worker.run_batch()  # its three steps ran; their outcome could not be written
    # As after a rescue: the job waits again, and this same worker claims it.
    Job.objects.filter(pk=job.pk).update(state=JobState.READY, workspace={}, step=0)

    assert worker.run_batch() == 3  # every step, not one step and a stall under its lease
    job.refresh_from_db()
    assert (job.state, job.workspace) == (JobState.COMPLETED, {"count": 3})
    assert not worker.leases.is_lost(job.pk)
