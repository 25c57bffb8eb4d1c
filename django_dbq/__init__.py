"""django_dbq: a database-backed job pipeline engine for Django."""

from typing import Any

__version__ = "4.0.0.dev0"

__all__ = [
    "ConfigurationError",
    "DbqError",
    "DuplicateJobError",
    "EnqueueError",
    "InvalidScheduleError",
    "InvalidWorkspaceError",
    "Job",
    "JobState",
    "Schedule",
    "StepTimeout",
    "UndeclaredTaskError",
    "UnknownJobError",
    "Worker",
    "__version__",
]

_LAZY = {
    "Job": "django_dbq.models",
    "JobState": "django_dbq.models",
    "Schedule": "django_dbq.models",
    "Worker": "django_dbq.worker",
}


def __getattr__(name: str) -> Any:
    # Models cannot be imported before Django's app registry is ready, so load them lazily.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'django_dbq' has no attribute {name!r}")


from .exceptions import (  # noqa: E402
    ConfigurationError,
    DbqError,
    DuplicateJobError,
    EnqueueError,
    InvalidScheduleError,
    InvalidWorkspaceError,
    StepTimeout,
    UndeclaredTaskError,
    UnknownJobError,
)
