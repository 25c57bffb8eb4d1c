"""Shared checks of the process tests: workers drained the queue, every step ran exactly once."""

import subprocess
from collections import Counter

import pytest

from django_dbq.models import Job, JobState
from tests.models import StepRun


def wait_for_clean_exits(workers: list[subprocess.Popen], timeout: float = 600) -> None:
    """Each worker exits 0 within ``timeout`` seconds."""
    for worker in workers:
        try:
            out, err = worker.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"a worker did not drain the queue within {timeout:g} seconds")
        assert worker.returncode == 0, err


def assert_every_pipeline_step_ran_exactly_once(jobs: int) -> None:
    """All ``jobs`` process_pipeline jobs COMPLETED, each of their 3 steps run exactly once."""
    assert Job.objects.count() == jobs
    assert Counter(Job.objects.values_list("state", flat=True)) == {JobState.COMPLETED: jobs}
    runs = Counter(StepRun.objects.values_list("job_id", "step"))
    assert len(runs) == jobs * 3, "some step never ran"
    assert set(runs.values()) == {1}, "some step ran more than once"
    workspaces = {tuple(w["steps"]) for w in Job.objects.values_list("workspace", flat=True)}
    assert workspaces == {("a", "b", "c")}
