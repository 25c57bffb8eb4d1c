"""No-op task functions for the benchmark."""

from typing import Any

from benchlib.probe import report_start


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
