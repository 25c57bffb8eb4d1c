"""A task's job row: the workspace layout, JSON checks, and the TaskResult read from the row.

The workspace of a task job (name ``django_dbq.tasks``) holds::

    task               the task function's import path ("myapp.tasks.send_email")
    backend            the TASKS alias it was enqueued on
    args, kwargs       its arguments, as JSON
    run_after          the run_after it was enqueued with (ISO 8601), or null
    options            its django_dbq options (retries, timeout, ...), read by the executor
    worker_ids         one worker id per attempt, written as each attempt starts
    last_attempted_at  when the latest attempt started (ISO 8601)
    errors             one {attempt, exception_class_path, traceback} per failed attempt

The return value is kept in the row's ``result`` column.
"""

from __future__ import annotations

import datetime
import json
import traceback
from typing import TYPE_CHECKING, Any

from django.utils.dateparse import parse_datetime

from ..exceptions import DbqError
from .compat import TaskError, TaskResult, TaskResultStatus, normalize_json

if TYPE_CHECKING:
    from ..models import Job
    from .compat import Task

# Job state -> task status. Django's statuses have no "cancelled": a cancelled job is FAILED.
STATUS_OF_STATE = {
    "NEW": TaskResultStatus.READY,
    "READY": TaskResultStatus.READY,
    "PROCESSING": TaskResultStatus.RUNNING,
    "STOPPING": TaskResultStatus.RUNNING,
    "COMPLETED": TaskResultStatus.SUCCESSFUL,
    "FAILED": TaskResultStatus.FAILED,
    "CANCELLED": TaskResultStatus.FAILED,
}
FINISHED = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


class TaskJSONError(DbqError, TypeError):
    """A task's arguments or return value cannot be stored as JSON and read back unchanged."""


def to_json(value: Any, what: str) -> Any:
    """``value`` normalised as the framework does (tuples become lists), checked to survive JSON."""
    try:
        normalized = normalize_json(value)
        text = json.dumps(normalized, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TaskJSONError(
            f"{what} must be JSON: dicts with string keys, lists, strings, numbers, booleans "
            f"and None; {error}"
        ) from None
    if json.loads(text) != normalized:
        raise TaskJSONError(
            f"{what} would not read back unchanged from JSON; dict keys must be strings"
        )
    return normalized


def new_workspace(task: Task, alias: str, args: list, kwargs: dict, options: dict) -> dict:
    """The workspace of a task job about to be enqueued."""
    return {
        "task": task.module_path,
        "backend": alias,
        "args": args,
        "kwargs": kwargs,
        "run_after": _iso(task.run_after),
        "options": options,
        "worker_ids": [],
        "last_attempted_at": None,
        "errors": [],
    }


def error_entry(attempt: int, error: BaseException) -> dict:
    """One failed attempt, as kept in the workspace's errors."""
    kind = type(error)
    return {
        "attempt": attempt,
        "exception_class_path": f"{kind.__module__}.{kind.__qualname__}",
        "traceback": "".join(traceback.format_exception(kind, error, error.__traceback__)),
    }


def result_from_job(job: Job, task: Task) -> TaskResult:
    """The TaskResult a task job's row describes."""
    workspace = job.workspace
    status = STATUS_OF_STATE[job.state]
    worker_ids = list(workspace.get("worker_ids", []))
    result = TaskResult(
        task=task,
        id=str(job.pk),
        status=status,
        enqueued_at=job.created,
        # A job claimed in a batch but handed back unrun has started_at set; it never started.
        started_at=job.started_at if worker_ids else None,
        finished_at=job.finished_at if status in FINISHED else None,
        last_attempted_at=_datetime(workspace.get("last_attempted_at")),
        args=workspace["args"],
        kwargs=workspace["kwargs"],
        backend=workspace["backend"],
        errors=[_task_error(entry) for entry in _errors(job, status)],
        worker_ids=worker_ids,
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", job.result)
    return result


def _errors(job: Job, status: TaskResultStatus) -> list[dict]:
    """The errors the runner kept, plus the row's error when the runner could not keep it.

    The engine writes ``last_error`` itself when a worker died mid-task (its lease expired) or
    the task could not even be resolved; such an error belongs to the latest finished attempt.
    """
    errors = list(job.workspace.get("errors", []))
    if not job.last_error or status == TaskResultStatus.SUCCESSFUL:
        return errors
    attempt = job.attempts - 1 if status == TaskResultStatus.RUNNING else job.attempts
    if any(entry.get("attempt") == attempt for entry in errors):
        return errors
    path, _, _ = job.last_error.partition(": ")
    return [
        *errors,
        {
            "attempt": attempt,
            "exception_class_path": path,
            "traceback": job.traceback or job.last_error,
        },
    ]


def _task_error(entry: dict) -> TaskError:
    return TaskError(
        exception_class_path=entry["exception_class_path"], traceback=entry["traceback"]
    )


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _datetime(value: str | None) -> datetime.datetime | None:
    return parse_datetime(value) if value else None
