"""Helpers for your own tests: run jobs inline, in the test's process and transaction."""

from __future__ import annotations

from . import transitions
from .executor import ADVANCED, run_step
from .models import Job
from .transitions import Lease
from .worker import Worker

TEST_OWNER = "django_dbq.testing"


def drain(queue_name: str = "default", max_steps: int = 10_000) -> int:
    """Run every runnable step of a queue, as a worker would; returns how many steps ran.

    Jobs whose run_after is in the future are left waiting. Stops after ``max_steps`` steps (the
    worker's own --max-jobs quota), so a job that keeps re-queueing itself cannot hang a test.
    """
    worker = Worker(queue_name, batch_size=10, worker_id=TEST_OWNER, max_jobs=max_steps)
    ran = 0
    while not worker.quota.reached():
        steps = worker.run_batch()  # writes its outcomes before it returns
        if not steps:
            break
        ran += steps
    return ran


def run_job(job: Job) -> Job:
    """Run all remaining steps of one waiting job now, ignoring run_after; returns it reloaded.

    A failing step follows the job's retry rules; with retries left the job is READY again with
    run_after in the future and run_job returns it in that state.
    """
    lease = Lease(TEST_OWNER, 3600)
    while transitions.claim_job(job, lease):
        if run_step(job, lease, keep=False).kind != ADVANCED:
            break
    job.refresh_from_db()
    return job
