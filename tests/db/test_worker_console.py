"""The worker's human lines (console.py) for projects that configure no logging for django_dbq."""

from __future__ import annotations

import io
import logging
import re

import pytest

from django_dbq.console import Console, logging_configured
from django_dbq.models import Job
from django_dbq.testing import drain

pytestmark = pytest.mark.django_db

TIME = r"\d\d:\d\d:\d\d"


@pytest.fixture
def no_logging():
    """The django_dbq logger as in a project without LOGGING (testsettings gives it a handler)."""
    logger = logging.getLogger("django_dbq")
    handlers, level = logger.handlers[:], logger.level
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    yield logger
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(level)


def console_lines(verbosity: int = 1) -> tuple[Console, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, verbosity, err)
    console.connect()
    return console, out, err


def run_with_console(verbosity: int = 1) -> tuple[list[str], str]:
    console, out, err = console_lines(verbosity)
    try:
        steps = drain()
        console.summary(steps)
    finally:
        console.disconnect()
    return out.getvalue().splitlines(), err.getvalue()


def test_without_any_handler_logging_counts_as_not_configured(no_logging, monkeypatch):
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # pytest's capture handlers
    assert not logging_configured()


def test_a_handler_on_the_django_dbq_logger_counts_as_configured(no_logging):
    no_logging.addHandler(logging.NullHandler())
    assert logging_configured()


def test_a_handler_on_the_root_logger_counts_as_configured(no_logging):
    handler = logging.NullHandler()
    logging.getLogger().addHandler(handler)
    try:
        assert logging_configured()
    finally:
        logging.getLogger().removeHandler(handler)


def test_a_handler_on_a_django_dbq_child_logger_counts_as_configured(no_logging):
    child = logging.getLogger("django_dbq.worker")
    handler = logging.NullHandler()
    child.addHandler(handler)
    try:
        assert logging_configured()
    finally:
        child.removeHandler(handler)


def test_a_completed_job_gets_one_line_with_its_duration_and_steps(no_logging):
    job = Job.objects.create(name="three_steps")
    lines, _ = run_with_console()
    assert re.fullmatch(
        rf"{TIME} job three_steps {job.pk} completed in \d+\.\d\d s \(3 steps\)", lines[0]
    )


def test_a_failed_job_gets_one_line_with_its_attempts_and_error(no_logging):
    job = Job.objects.create(name="failing")
    lines, _ = run_with_console()
    assert re.fullmatch(
        rf"{TIME} job failing {job.pk} failed at step 1/1 after 1 attempt "
        r"\(\d+\.\d\d s\): ValueError: boom",
        lines[0],
    )


def test_a_retried_attempt_gets_a_line_saying_it_will_be_retried(no_logging):
    job = Job.objects.create(name="retrying", workspace={"succeed_on": 99})
    lines, _ = run_with_console()
    assert re.fullmatch(
        rf"{TIME} step 1/1 of job retrying {job.pk} failed on attempt 1 after \d+\.\d\d s, "
        r"will be retried: RuntimeError: attempt 1 failed",
        lines[0],
    )


def test_verbosity_1_has_no_line_per_succeeded_step(no_logging):
    Job.objects.create(name="three_steps")
    lines, _ = run_with_console(1)
    assert len(lines) == 2  # the job, the summary
    assert not any(" step " in line for line in lines)


def test_verbosity_2_adds_a_line_per_step_in_order(no_logging):
    job = Job.objects.create(name="three_steps")
    lines, _ = run_with_console(2)
    assert re.fullmatch(rf"{TIME} step 1/3 of job three_steps {job.pk} succeeded in .* s", lines[0])
    assert lines[1].split(" ", 1)[1].startswith("step 2/3 of job three_steps")
    assert " completed in " in lines[2]


def test_verbosity_0_prints_no_human_line(no_logging):
    Job.objects.create(name="three_steps")
    Job.objects.create(name="failing")
    lines, errors = run_with_console(0)
    assert lines == []
    assert "ERROR django_dbq.executor event=step_failed job=failing" in errors


def test_the_summary_counts_steps_jobs_and_failures(no_logging):
    Job.objects.create(name="three_steps")
    Job.objects.create(name="failing")
    lines, _ = run_with_console()
    assert re.fullmatch(
        rf"{TIME} worker stopped: 4 steps, 1 job\(s\) completed, 1 failed, in \d+\.\d\d s",
        lines[-1],
    )


def test_warnings_go_to_the_error_stream_with_time_and_level(no_logging):
    Job.objects.create(name="retrying", workspace={"succeed_on": 99})
    _, errors = run_with_console()
    assert re.match(rf"{TIME} WARNING django_dbq.executor event=step_failed job=retrying ", errors)


def test_the_first_and_second_signal_each_print_a_line():
    out = io.StringIO()
    console = Console(out)
    console.signal_received(1)
    console.signal_received(2)
    first, second = out.getvalue().splitlines()
    assert first.endswith(
        "stopping: finishing the running step(s); send the signal again to exit now"
    )
    assert second.endswith("second signal: exiting now; the running step(s) will be rescued")


def test_disconnect_removes_the_handler_and_the_receivers(no_logging):
    console, out, _ = console_lines()
    console.disconnect()
    Job.objects.create(name="three_steps")
    drain()
    assert out.getvalue() == ""
    assert no_logging.handlers == []
