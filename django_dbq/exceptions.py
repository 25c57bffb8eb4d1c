"""Exceptions raised by django_dbq.

DbqError                      base class; do not raise directly
├── ConfigurationError        JOBS or a DBQ_* setting is wrong (also ImproperlyConfigured)
├── EnqueueError              a job could not be enqueued (also ValueError)
│   ├── UnknownJobError       the job name is not declared in JOBS
│   ├── InvalidWorkspaceError the workspace is not a JSON object or breaks the job's schema
│   └── DuplicateJobError     a unique job with the same key is already waiting or running
├── InvalidScheduleError      a schedule's definition is invalid (also ValueError)
├── StepError                 a step could not be run (also RuntimeError)
│   ├── UndeclaredTaskError   the row names a task JOBS does not declare for it (at its step)
│   ├── StepTimeout           the step ran longer than the job's ``timeout``
│   └── StepLost              the step's worker died too often (DBQ_MAX_RESCUES)
├── ClaimError                a claim could not lease the jobs it selected
└── LeaseLost                 this worker no longer owns the job it was running
"""

from django.core.exceptions import ImproperlyConfigured


class DbqError(Exception):
    """Base class of every django_dbq error; do not raise directly."""


class ConfigurationError(DbqError, ImproperlyConfigured):
    """The JOBS setting or a DBQ_* setting is invalid."""


class EnqueueError(DbqError, ValueError):
    """A job could not be enqueued; nothing was saved."""


class UnknownJobError(EnqueueError):
    """The job name is not declared in the JOBS setting."""


class InvalidWorkspaceError(EnqueueError):
    """The workspace is not a JSON object or does not match the job's workspace_schema."""


class DuplicateJobError(EnqueueError):
    """A unique job with the same key is already waiting or running."""

    def __init__(self, message: str, existing=None):
        super().__init__(message)
        self.existing = existing


class InvalidScheduleError(DbqError, ValueError):
    """A schedule's definition is invalid (cron expression, interval, job, workspace...).

    ``errors`` maps field names to messages, for forms and the admin.
    """

    def __init__(self, message: str, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.errors = errors or {}


class StepError(DbqError, RuntimeError):
    """A step could not be run."""


class UndeclaredTaskError(StepError):
    """The job row names a task that JOBS does not declare for that job, or not at its step."""


class StepTimeout(StepError):
    """The step ran longer than the job's timeout."""


class StepLost(StepError):
    """The step's worker stopped (its lease expired) more than DBQ_MAX_RESCUES times."""


class ClaimError(DbqError):
    """A claim selected jobs but could not lease them; nothing was handed out."""


class LeaseLost(DbqError):
    """This worker's lease on a job expired and another worker may own it now."""
