"""worker --concurrency N: worker loops as threads of one process keep every promise."""

import io
import threading
from collections import Counter

import pytest
from django.core.management import call_command

from django_dbq.exceptions import StepTimeout
from django_dbq.models import Job, JobState
from django_dbq.options import WorkerOptions
from django_dbq.runner import Runner
from django_dbq.worker import Worker
from tests.models import StepRun

pytestmark = pytest.mark.django_db(transaction=True)


def pool(**options) -> Runner:
    """A runner of worker threads, as `manage.py worker --concurrency N` makes."""
    return Runner(Worker.pool(WorkerOptions(**options)))


def run_in_background(runner: Runner) -> threading.Thread:
    thread = threading.Thread(target=runner.run, name="pool-under-test")
    thread.start()
    return thread


def finished(thread: threading.Thread, seconds: float = 30) -> bool:
    thread.join(timeout=seconds)
    return not thread.is_alive()


def test_threads_run_every_step_of_every_job_exactly_once():
    Job.objects.enqueue_many([Job(name="process_pipeline") for _ in range(60)])

    pool(concurrency=3, burst=True, batch_size=5, scheduler=False).run()

    assert Counter(Job.objects.values_list("state", flat=True)) == {JobState.COMPLETED: 60}
    runs = Counter(StepRun.objects.values_list("job_id", "step"))
    assert len(runs) == 60 * 3, "some step never ran"
    assert set(runs.values()) == {1}, "some step ran more than once"


def test_steps_waiting_on_io_run_side_by_side_in_separate_threads():
    jobs = [Job.objects.create(name="io_wait", workspace={"seconds": 0.5}) for _ in range(3)]

    pool(concurrency=3, burst=True, batch_size=1, scheduler=False).run()

    runs = [Job.objects.get(pk=job.pk).workspace["run"] for job in jobs]
    threads = {thread for thread, _, _ in runs}
    owners = set(Job.objects.values_list("lease_owner", flat=True))
    assert len(threads) >= 2 and len(owners) >= 2
    # At least two of the waits overlapped in time: the threads ran concurrently.
    assert any(
        a_start < b_end and b_start < a_end
        for i, (_, a_start, a_end) in enumerate(runs)
        for (_, b_start, b_end) in runs[i + 1 :]
    )


def test_each_thread_has_its_own_lease_owner():
    runner = pool(concurrency=4, scheduler=False)
    assert len({worker.worker_id for worker in runner.workers}) == 4


def test_max_jobs_counts_the_steps_of_all_threads_together():
    Job.objects.enqueue_many([Job(name="basic") for _ in range(20)])

    runner = pool(concurrency=3, max_jobs=7, batch_size=5, scheduler=False)
    runner.run()

    assert runner.steps_run == 7
    states = Counter(Job.objects.values_list("state", flat=True))
    # Claimed jobs that the quota left unstarted went back to the queue, untouched.
    assert states == {JobState.COMPLETED: 7, JobState.NEW: 13}
    assert set(Job.objects.filter(state=JobState.NEW).values_list("attempts", flat=True)) == {0}


def test_stop_ends_idle_threads_waits_at_once():
    runner = pool(concurrency=2, poll_interval=120, scheduler=False)
    thread = run_in_background(runner)
    Job.objects.create(name="basic")  # shows the threads have started and gone idle
    for _ in range(200):
        if Job.objects.filter(state=JobState.COMPLETED).exists():
            break
        threading.Event().wait(0.05)

    runner.stop()

    # Without the wake-up the threads would sleep out their 120-second poll interval.
    assert finished(thread), "an idle thread slept through stop()"
    assert not runner.crashed


def test_a_step_over_its_timeout_fails_in_a_worker_thread():
    job = Job.objects.create(name="busy_with_timeout", workspace={"seconds": 30})

    pool(concurrency=2, burst=True, scheduler=False).run()

    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert StepTimeout.__name__ in job.last_error
    assert "busy_until_stopped" in job.traceback  # where the step was interrupted
    assert "finished" not in job.workspace


def test_a_thread_that_crashes_stops_the_whole_pool():
    runner = pool(concurrency=2, poll_interval=120, scheduler=False)

    def broken_batch():
        raise RuntimeError("a bug in the loop, not in a task")

    runner.workers[1].run_batch = broken_batch
    thread = run_in_background(runner)

    assert finished(thread), "the pool ran on without its crashed thread"
    assert runner.crashed


def test_the_worker_command_runs_a_pool_with_concurrency():
    Job.objects.enqueue_many([Job(name="three_steps") for _ in range(5)])
    call_command("worker", "--burst", "--concurrency", "2", stdout=io.StringIO())
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.COMPLETED}


def test_concurrency_must_be_a_positive_whole_number():
    with pytest.raises(ValueError, match="concurrency must be a whole number >= 1, not 0"):
        pool(concurrency=0)
