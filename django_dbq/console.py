"""Human lines of ``manage.py worker`` when the project configures no logging for django_dbq.

The key=value events stay the interface for machines (route them with LOGGING). A project that
sets up no logging at all would otherwise see one start line and nothing else, and WARNING
events through Python's last-resort handler, without time or level. So, only then, the worker
command installs a Console for its own run: it listens to the engine's signals and prints one
line per finished or failed job (verbosity 1), per step too (verbosity 2), a line per stop
signal and a summary on exit; and it gives the django_dbq logger a handler with time and level.

"No logging configured" means: no handler on the ``django_dbq`` logger, on any ``django_dbq.*``
logger, nor on any ancestor up to the root (following ``propagate``). Python's last resort
(``logging.lastResort``) is not a configured handler.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, TextIO

from django.utils import timezone

from . import signals
from .outcomes import ADVANCED, CANCELLED, COMPLETED, DELETED, FAILED, LOST, RETRYING
from .registry import DJANGO_TASK_JOB

LOGGER_NAME = "django_dbq"
# The key=value events' level on the console by verbosity: errors only at 0, warnings at 1
# and 2, every event at 3.
EVENT_LEVELS = {0: logging.ERROR, 1: logging.WARNING, 2: logging.WARNING, 3: logging.INFO}


def logging_configured(name: str = LOGGER_NAME) -> bool:
    """Whether the project gave the ``name`` logger, a descendant or an ancestor a handler."""
    manager = logging.Logger.manager
    for other, logger in list(manager.loggerDict.items()):
        if other.startswith(name + ".") and isinstance(logger, logging.Logger):
            if logger.handlers:
                return True
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None:
        if logger.handlers:
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


class Console:
    """Prints a worker's human lines on ``stream``; connect() for a run, disconnect() after."""

    def __init__(self, stream: TextIO, verbosity: int = 1, errors: TextIO | None = None):
        self.stream = stream
        self.errors = errors if errors is not None else stream
        self.verbosity = verbosity
        self.completed = 0
        self.failed = 0
        self.steps = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._handler: logging.Handler | None = None
        self._previous_level = logging.NOTSET

    # -- setup --------------------------------------------------------------------------------

    def connect(self) -> None:
        """Listen to the engine's signals and give the django_dbq logger a console handler."""
        signals.job_completed.connect(self.job_completed, dispatch_uid=self._uid("completed"))
        signals.job_failed.connect(self.job_failed, dispatch_uid=self._uid("failed"))
        signals.step_finished.connect(self.step_finished, dispatch_uid=self._uid("step"))
        level = EVENT_LEVELS[min(max(self.verbosity, 0), 3)]
        handler = logging.StreamHandler(self.errors)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s", "%H:%M:%S")
        )
        handler.setLevel(level)
        logger = logging.getLogger(LOGGER_NAME)
        self._previous_level = logger.level
        if logger.getEffectiveLevel() > level:
            logger.setLevel(level)
        logger.addHandler(handler)
        self._handler = handler

    def disconnect(self) -> None:
        """Undo connect()."""
        signals.job_completed.disconnect(dispatch_uid=self._uid("completed"))
        signals.job_failed.disconnect(dispatch_uid=self._uid("failed"))
        signals.step_finished.disconnect(dispatch_uid=self._uid("step"))
        if self._handler is not None:
            logger = logging.getLogger(LOGGER_NAME)
            logger.removeHandler(self._handler)
            logger.setLevel(self._previous_level)
            self._handler = None

    def _uid(self, what: str) -> str:
        return f"django_dbq.console.{id(self)}.{what}"

    # -- the lines ----------------------------------------------------------------------------

    def job_completed(self, sender: Any, job: Any, **kwargs: Any) -> None:
        """``12:03:04 job send_email 0193…ab12 completed in 0.21 s (3 steps)``"""
        with self._lock:
            self.completed += 1
        steps = job.step or 1
        self.line(
            f"job {_name(job)} {job.pk} completed in {_job_seconds(job)}"
            f" ({steps} step{'s' if steps != 1 else ''})"
        )

    def job_failed(self, sender: Any, job: Any, error: BaseException, **kwargs: Any) -> None:
        """``12:03:04 job send_email 0193…ab12 failed at step 2/3 after 2 attempts: ValueError``"""
        with self._lock:
            self.failed += 1
        attempts = job.attempts or 1
        self.line(
            f"job {_name(job)} {job.pk} failed at step {_step_of(job)}"
            f" after {attempts} attempt{'s' if attempts != 1 else ''}"
            f" ({_job_seconds(job)}): {type(error).__name__}: {error}"
        )

    def step_finished(self, sender: Any, job: Any, step: int, outcome: str, **kwargs: Any) -> None:
        """``12:03:04 step 1/3 of job send_email 0193…ab12 advanced in 0.05 s`` (verbosity 2)."""
        with self._lock:
            self.steps += 1
        # A job's last step has its job line (completed / failed) instead.
        if outcome in (COMPLETED, FAILED) or (self.verbosity < 2 and outcome == ADVANCED):
            return
        duration = kwargs.get("duration")
        took = f" after {duration:.2f} s" if duration is not None else ""
        what = {
            ADVANCED: "succeeded",
            RETRYING: f"failed on attempt {job.attempts}{took}, will be retried",
            CANCELLED: f"ended{took}: the job was cancelled",
            LOST: f"ended{took}: another worker owns the job now, its outcome was not written",
            DELETED: f"ended{took}: the job was deleted",
        }.get(outcome, f"ended{took}: {outcome}")
        if outcome == ADVANCED and duration is not None:
            what += f" in {duration:.2f} s"
        error = f": {_short_error(job.last_error)}" if outcome == RETRYING else ""
        self.line(f"step {step + 1}{_steps_of(job)} of job {_name(job)} {job.pk} {what}{error}")

    def signal_received(self, count: int) -> None:
        """The line a stop signal prints (``count``: signals so far)."""
        if count == 1:
            self.line("stopping: finishing the running step(s); send the signal again to exit now")
        else:
            self.line("second signal: exiting now; the running step(s) will be rescued")

    def summary(self, steps: int) -> None:
        """The last line: what this worker did, and for how long."""
        elapsed = time.monotonic() - self.started
        self.line(
            f"worker stopped: {steps} step{'s' if steps != 1 else ''}, {self.completed} job(s) "
            f"completed, {self.failed} failed, in {_seconds(elapsed)}"
        )

    def line(self, text: str) -> None:
        """Write one time-stamped line and flush it (a second signal exits without flushing)."""
        if self.verbosity < 1:
            return
        stamp = timezone.localtime().strftime("%H:%M:%S")
        try:
            self.stream.write(f"{stamp} {text}\n")
            self.stream.flush()
        except (OSError, ValueError, RuntimeError):
            # A closed pipe, or a signal handler interrupting a write in progress: the line
            # is lost, the worker goes on.
            pass


def _name(job: Any) -> str:
    """The job's name; a Django task's import path for the one job of every task."""
    if job.name == DJANGO_TASK_JOB and isinstance(job.workspace, dict):
        return str(job.workspace.get("task") or job.name)
    return job.name


def _seconds(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def _job_seconds(job: Any) -> str:
    """From the job's first start to its end (waits between steps and retries included)."""
    if job.started_at and job.finished_at:
        return _seconds(max((job.finished_at - job.started_at).total_seconds(), 0.0))
    return "? s"


def _steps_of(job: Any) -> str:
    """``/3`` when the job's declared steps are known."""
    try:
        return f"/{len(job.spec.for_workspace(job.workspace).tasks)}"
    except Exception:
        return ""


def _short_error(last_error: str) -> str:
    """``ValueError: boom`` for a built-in exception's ``builtins.ValueError: boom``."""
    return last_error.removeprefix("builtins.")


def _step_of(job: Any) -> str:
    return f"{(job.step or 0) + 1}{_steps_of(job)}"
