"""No-op tasks for procrastinate; the pipeline is chained: each step defers the next."""

from benchlib.probe import report_start
from procrastinate.contrib.django import app


@app.task(name="noop")
def noop() -> None:
    """Do nothing."""


@app.task(name="step_three")
def step_three() -> None:
    """Last step of the chained pipeline (no-op)."""


@app.task(name="step_two")
def step_two() -> None:
    """Second step: defer the third."""
    step_three.defer()


@app.task(name="step_one")
def step_one() -> None:
    """First step: defer the second."""
    step_two.defer()


@app.task(name="probe")
def probe(sample: int) -> None:
    """Pickup latency probe."""
    report_start(sample)
