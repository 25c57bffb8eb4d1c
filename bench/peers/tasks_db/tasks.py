"""No-op tasks for django-tasks-db; the pipeline is chained: each step enqueues the next."""

try:  # Django >= 6.0
    from django.tasks import task
except ImportError:  # the django-tasks backport on Django 5.2
    from django_tasks import task

from benchlib.probe import report_start


@task()
def noop() -> None:
    """Do nothing."""


@task()
def step_three() -> None:
    """Last step of the chained pipeline (no-op)."""


@task()
def step_two() -> None:
    """Second step: enqueue the third."""
    step_three.enqueue()


@task()
def step_one() -> None:
    """First step: enqueue the second."""
    step_two.enqueue()


@task()
def probe(sample: int) -> None:
    """Pickup latency probe."""
    report_start(sample)
