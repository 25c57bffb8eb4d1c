"""The one step of every Django-task job: resolve the task, run it, keep its return value.

The executor runs this like any declared task, inside the step's lease, timeout and retry rules
(the job's retries and timeout come from its workspace, see JobSpec.for_workspace).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..exceptions import LeaseLost
from ..models import Job
from ..transitions import leased_rows, owner_of
from .backend import DatabaseBackend, send
from .compat import (
    InvalidTaskBackend,
    TaskContext,
    TaskResult,
    TaskResultStatus,
    task_backends,
    task_finished,
    task_started,
)
from .results import error_entry, result_from_job, to_json


def run_task(job: Job) -> None:
    """Run the Django task a job's workspace names; its JSON return value goes to job.result."""
    backend = backend_for(job.workspace.get("backend"))
    task = backend.task_for_job(job)
    _start_attempt(job)
    running = result_from_job(job, task)
    sender = type(backend)
    send(task_started, sender, running)
    try:
        if task.takes_context:
            context = TaskContext(task_result=running)
            value = task.call(context, *running.args, **running.kwargs)
        else:
            value = task.call(*running.args, **running.kwargs)
        value = to_json(value, f"return value of task {task.module_path!r}")
    except Exception as error:
        # The executor retries when attempts remain, by the same rule as here.
        retrying = job.attempts <= job.spec.for_workspace(job.workspace).retries
        _keep_error(job, error, persist=retrying)
        status = TaskResultStatus.READY if retrying else TaskResultStatus.FAILED
        failed = _finished(job, running, status)
        # Sent from inside the except block so receivers (the framework logs) see the exception.
        send(task_finished, sender, failed)
        raise
    job.result = value
    succeeded = _finished(job, running, TaskResultStatus.SUCCESSFUL)
    object.__setattr__(succeeded, "_return_value", value)
    send(task_finished, sender, succeeded)


def backend_for(alias: Any) -> DatabaseBackend:
    """The DatabaseBackend of a TASKS alias; raises InvalidTaskBackend for any other backend."""
    try:
        backend = task_backends[alias]
    except InvalidTaskBackend as error:
        raise InvalidTaskBackend(
            f"the task job names TASKS alias {alias!r}, which is not configured: {error}"
        ) from error
    if not isinstance(backend, DatabaseBackend):
        raise InvalidTaskBackend(
            f"TASKS[{alias!r}] is {type(backend).__module__}.{type(backend).__qualname__}, "
            "not django_dbq.backends.DatabaseBackend; a worker cannot run its tasks."
        )
    return backend


def _start_attempt(job: Job) -> None:
    """Record this attempt's worker and start time on the row before the task runs.

    Written at once (inside the lease) because a failed attempt that is retried does not write
    the workspace: without this, the attempt would vanish from worker_ids and the next attempt's
    TaskContext.attempt would be wrong.
    """
    now = timezone.now()
    workspace = {
        **job.workspace,
        "worker_ids": [*job.workspace.get("worker_ids", []), job.lease_owner],
        "last_attempted_at": now.isoformat(),
    }
    if not _leased(job).update(
        workspace=workspace, started_at=Coalesce(F("started_at"), Value(now)), modified=now
    ):
        raise LeaseLost(
            f"job {job.pk} is no longer running under {job.lease_owner!r} (cancelled, or its "
            "lease expired); the task was not started"
        )
    job.workspace = workspace
    job.started_at = job.started_at or now


def _keep_error(job: Job, error: Exception, persist: bool) -> None:
    """Add the attempt's error to the workspace; a retried attempt's must be written now."""
    errors = [*job.workspace.get("errors", []), error_entry(job.attempts, error)]
    job.workspace = {**job.workspace, "errors": errors}
    if persist:
        # The executor writes the workspace of a job that fails for good, not of a retry.
        _leased(job).update(workspace=job.workspace)


def _leased(job: Job) -> Any:
    """The job's row while it runs under this worker's lease (as every transition guards it)."""
    return leased_rows(job, owner_of(job))


def _finished(job: Job, running: TaskResult, status: TaskResultStatus) -> TaskResult:
    """The running result as this attempt ends with ``status``."""
    final = status != TaskResultStatus.READY
    return dataclasses.replace(
        running,
        status=status,
        finished_at=timezone.now() if final else None,
        errors=result_from_job(job, running.task).errors,
    )
