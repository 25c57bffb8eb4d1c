"""A paused queue, obeyed by real `manage.py worker` processes: the running step finishes,
nothing new starts (not even the job's next step) until the queue is resumed; other queues run.
"""

from __future__ import annotations

import signal
import time

import pytest

from django_dbq import pauses
from django_dbq.models import Job, JobState
from tests.models import StepRun
from tests.process.test_shutdown import exit_code, step_started, wait_for

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

# Polls of an idle worker (DBQ_POLL_INTERVAL 0.5 s) during which a paused queue must stay still.
QUIET_POLLS_SECONDS = 2.0


def ran(job: Job, step: str) -> bool:
    return StepRun.objects.filter(job_id=job.pk, step=step).exists()


def test_a_paused_queue_starts_nothing_new_until_resumed_while_its_running_step_finishes(manage):
    slow = Job.objects.create(name="process_slow", workspace={"seconds": 2})
    default_worker = manage("worker")
    other_worker = manage("worker", "other")
    try:
        wait_for(step_started(slow), "the slow step to start")
        pauses.pause("default")
        waiting = [Job.objects.create(name="process_pipeline") for _ in range(3)]
        elsewhere = Job.objects.create(name="process_pipeline", queue_name="other")

        # The running step finishes and is saved; the other queue's job runs meanwhile.
        wait_for(lambda: ran(slow, "a"), "the running step to finish")
        wait_for(
            lambda: Job.objects.get(pk=elsewhere.pk).state == JobState.COMPLETED,
            "the job of the queue that is not paused",
        )
        time.sleep(QUIET_POLLS_SECONDS)  # a worker obeying no pause would start jobs now
        slow.refresh_from_db()
        assert (slow.state, slow.step) == (JobState.READY, 1), "the next step must not start"
        assert not ran(slow, "b")
        assert {job.state for job in Job.objects.filter(pk__in=[j.pk for j in waiting])} == {
            JobState.NEW
        }
        assert not StepRun.objects.filter(job_id__in=[j.pk for j in waiting]).exists()

        pauses.resume("default")
        wait_for(
            lambda: (
                not Job.objects.filter(queue_name="default")
                .exclude(state=JobState.COMPLETED)
                .exists()
            ),
            "the resumed queue to drain",
        )
        assert ran(slow, "b")
    finally:
        for worker in (default_worker, other_worker):
            worker.send_signal(signal.SIGTERM)
    assert exit_code(default_worker) == 0 and exit_code(other_worker) == 0
