"""Task functions for the benchmark: no-ops, the latency probe and the I/O-bound workload's."""

import time
from typing import Any

from benchlib.probe import report_start

from django_dbq.models import Job, JobState

# How often a start gate looks whether every gate has been claimed (its release jitter), and how
# long it waits at most: a slot that never starts must fail the measurement, not hang it.
GATE_POLL_SECONDS = 0.005
GATE_TIMEOUT_SECONDS = 120.0


def noop(job: Any) -> None:
    """Do nothing: the benchmark measures the queue, not the work."""


def step_one(job: Any) -> None:
    """First step of the three-step pipeline (no-op)."""


def step_two(job: Any) -> None:
    """Second step of the three-step pipeline (no-op)."""


def step_three(job: Any) -> None:
    """Third step of the three-step pipeline (no-op)."""


def probe(job: Any) -> None:
    """Pickup latency probe: report the moment this step started."""
    report_start(job.workspace["sample"])


def on_create(job: Any) -> None:
    """Creation hook of the "validated" job: stamp the workspace."""
    job.workspace["stamped"] = True


def wait_on_io(job: Any) -> None:
    """Stand for an HTTP call: wait without using the CPU (sleep releases the GIL, as I/O does)."""
    time.sleep(job.workspace["seconds"])


def gate(job: Any) -> None:
    """Hold this worker slot until every start gate has been claimed.

    A worker's first claim takes one job and it runs that job before claiming again, so while
    a slot waits here it holds no other job. Once no gate is left waiting, every slot (thread or
    process) has started, and all of them reach the I/O-bound jobs within one poll of each other:
    the start-up of eight processes on a small machine stays out of the measured rate.
    """
    deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
    waiting = Job.objects.filter(name="io_gate", state__in=[JobState.NEW, JobState.READY])
    while waiting.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"start gates still waiting after {GATE_TIMEOUT_SECONDS:.0f}s")
        time.sleep(GATE_POLL_SECONDS)
