"""No-op tasks for django-db-queue 3.3.0."""

from typing import Any

from benchlib.probe import report_start


def noop(job: Any) -> None:
    """Do nothing."""


def step_one(job: Any) -> None:
    """First step of the three-step pipeline (no-op)."""


def step_two(job: Any) -> None:
    """Second step (no-op)."""


def step_three(job: Any) -> None:
    """Third step (no-op)."""


def probe(job: Any) -> None:
    """Pickup latency probe."""
    report_start(job.workspace["sample"])
