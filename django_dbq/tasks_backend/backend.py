"""DatabaseBackend: Django tasks stored as django_dbq jobs, run by ``manage.py worker``."""

from __future__ import annotations

import dataclasses
import logging
import sys
import uuid
from typing import Any

from django.apps import apps
from django.core import checks
from django.utils.dateparse import parse_datetime

from ..registry import DJANGO_TASK_JOB, PER_JOB_OPTION_KEYS, per_job_option_problems
from . import discovery
from .compat import (
    BaseTaskBackend,
    InvalidTask,
    InvalidTaskBackend,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_enqueued,
)
from .results import new_workspace, result_from_job, to_json

logger = logging.getLogger(__name__)

# Job.queue_name is a CharField of this length.
MAX_QUEUE_NAME_LENGTH = 100


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseTask(Task):
    """A Task with django_dbq's options: retries, retry_backoff(_max) and timeout (None: default).

    Django 6.1 and the backport pass extra ``@task(...)`` arguments on to this class; on every
    version ``my_task.using(retries=3)`` sets them too.
    """

    # Attempts after the first one that fails; failed attempts are retried with backoff.
    retries: int | None = None
    # Seconds before the first retry, doubling each time (with jitter) up to retry_backoff_max.
    retry_backoff: float | None = None
    retry_backoff_max: float | None = None
    # Seconds an attempt may run before it is stopped and counts as failed.
    timeout: float | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The django_dbq options this task sets."""
        return {
            key: getattr(self, key) for key in PER_JOB_OPTION_KEYS if getattr(self, key) is not None
        }

    def using(
        self,
        *,
        retries: int | None = None,
        retry_backoff: float | None = None,
        retry_backoff_max: float | None = None,
        timeout: float | None = None,
        **changes: Any,
    ) -> DatabaseTask:
        """Create a new Task with modified defaults, django_dbq's options included."""
        # Zero-argument super() does not work in a slotted dataclass, so name the class.
        task = Task.using(self, **changes)
        options = dict(
            retries=retries,
            retry_backoff=retry_backoff,
            retry_backoff_max=retry_backoff_max,
            timeout=timeout,
        )
        options = {key: value for key, value in options.items() if value is not None}
        return dataclasses.replace(task, **options) if options else task


class DatabaseBackend(BaseTaskBackend):
    """Stores each enqueued task as a django_dbq job; ``manage.py worker <queue>`` runs it.

    OPTIONS: ``retries``, ``retry_backoff``, ``retry_backoff_max`` and ``timeout`` are defaults
    for every task of this backend (a DatabaseTask's own options win); ``task_modules`` lists
    modules (or packages) besides the installed apps' ``tasks`` modules that define tasks.
    """

    task_class = DatabaseTask

    # run_after is kept on the job, which waits in its queue until then.
    supports_defer = True
    # ``async def`` tasks run in the worker through asgiref's async_to_sync.
    supports_async_task = True
    # Results are rows of the Job table, readable from any process.
    supports_get_result = True
    # Workers claim higher-priority jobs first.
    supports_priority = True

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        options = dict(self.options)
        modules = options.pop("task_modules", ())
        self.defaults = {key: options.pop(key) for key in PER_JOB_OPTION_KEYS if key in options}
        problems = per_job_option_problems(self.defaults)
        if options:
            allowed = ", ".join((*PER_JOB_OPTION_KEYS, "task_modules"))
            problems.append(f"unknown keys {sorted(options)} (allowed: {allowed})")
        if not isinstance(modules, (list, tuple)) or not all(
            isinstance(m, str) and m for m in modules
        ):
            problems.append(f"'task_modules' must be a list of module names, not {modules!r}")
        for queue in sorted(self.queues, key=str):
            if not isinstance(queue, str) or not 0 < len(queue) <= MAX_QUEUE_NAME_LENGTH:
                problems.append(
                    f"queue name {queue!r} must be a string of 1 to "
                    f"{MAX_QUEUE_NAME_LENGTH} characters"
                )
        if problems:
            raise InvalidTaskBackend(
                f"TASKS[{alias!r}] is invalid for django_dbq: " + "; ".join(problems)
            )
        self.task_modules: tuple[str, ...] = tuple(modules)

    # -- validation ------------------------------------------------------------------------

    def validate_task(self, task: Task) -> None:
        """Raise InvalidTask unless a worker can run this task as a django_dbq job."""
        super().validate_task(task)
        if "." in task.func.__qualname__:
            raise InvalidTask(
                f"Task function {task.module_path!r} must be defined at the top level of its "
                "module, not inside a class: the worker imports it by that path."
            )
        if len(task.queue_name) > MAX_QUEUE_NAME_LENGTH:
            raise InvalidTask(
                f"Queue name {task.queue_name!r} is longer than {MAX_QUEUE_NAME_LENGTH} characters."
            )
        if isinstance(task, DatabaseTask):
            problems = per_job_option_problems(task.options)
            if problems:
                raise InvalidTask(f"Task {task.module_path!r}: " + "; ".join(problems))
        # Task modules are usually imported once the app registry is ready; one imported
        # before (from a models module) is found by the worker only if its module is imported.
        # A task rebuilt from its row (task_for_job) was checked when it was defined.
        known = discovery.defined(task.module_path)
        if (
            apps.ready
            and (known is None or known.func is not task.func)
            and not discovery.in_task_module(task.func.__module__, self.task_modules)
        ):
            raise InvalidTask(
                f"Task {task.module_path!r} is defined outside the modules the worker imports "
                "tasks from: define it in the tasks module (or package) of an installed app, or "
                f"add its module to TASKS[{self.alias!r}]['OPTIONS']['task_modules']."
            )
        discovery.remember(task)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """System checks: the Job table this backend writes to must be installed (E020)."""
        if apps.is_installed("django_dbq"):
            return []
        return [
            checks.Error(
                f"TASKS[{self.alias!r}] uses django_dbq.backends.DatabaseBackend, which stores "
                "tasks as django_dbq jobs, but django_dbq is not in INSTALLED_APPS.",
                hint="Add 'django_dbq' to INSTALLED_APPS and run migrate.",
                id="django_dbq.E020",
            )
        ]

    # -- the contract ------------------------------------------------------------------------

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """Store the task and its arguments as a job; the result is READY."""
        from ..models import Job  # a @task may be defined (so this module loaded) while apps load

        self.validate_task(task)
        self._check_findable(task)
        args = to_json(list(args), f"arguments of task {task.module_path!r}")
        kwargs = to_json(dict(kwargs), f"keyword arguments of task {task.module_path!r}")
        options = {**self.defaults, **getattr(task, "options", {})}
        job = Job(
            name=DJANGO_TASK_JOB,
            queue_name=task.queue_name,
            priority=task.priority,
            run_after=task.run_after,
            workspace=new_workspace(task, self.alias, args, kwargs, options),
        )
        job.save(force_insert=True)
        result = TaskResult(
            task=task,
            id=str(job.pk),
            status=TaskResultStatus.READY,
            enqueued_at=job.created,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        send(task_enqueued, type(self), result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        """The result of a task enqueued on this backend; raises TaskResultDoesNotExist."""
        from ..models import Job  # a @task may be defined (so this module loaded) while apps load

        try:
            pk = uuid.UUID(str(result_id))
        except ValueError:
            raise TaskResultDoesNotExist(result_id) from None
        try:
            job = Job.objects.get(pk=pk, name=DJANGO_TASK_JOB)
        except Job.DoesNotExist:
            raise TaskResultDoesNotExist(result_id) from None
        if job.workspace.get("backend") != self.alias:
            raise TaskResultDoesNotExist(result_id)
        return result_from_job(job, self.task_for_job(job))

    def _check_findable(self, task: Task) -> None:
        """Raise InvalidTask unless the worker will find this task at its path (see resolve)."""
        module = sys.modules.get(task.func.__module__)
        found = getattr(module, task.func.__name__, None)
        if not isinstance(found, Task) or found.func is not task.func:
            raise InvalidTask(
                f"Task {task.module_path!r} cannot be found by the worker: that name must be the "
                "task itself. Decorate the function with @task where it is defined, keeping "
                "its name."
            )

    # -- rebuilding a task from its row --------------------------------------------------------

    def task_for_job(self, job: Any) -> DatabaseTask:
        """The task a job row names, as enqueued; raises InvalidTask if it is not a known task."""
        workspace = job.workspace
        found = self.resolve(workspace.get("task"))
        run_after = workspace.get("run_after")
        return self.task_class(
            func=found.func,
            priority=job.priority,
            backend=self.alias,
            queue_name=job.queue_name,
            run_after=parse_datetime(run_after) if run_after else None,
            takes_context=found.takes_context,
            **workspace.get("options", {}),
        )

    def resolve(self, path: Any) -> Task:
        """The task defined at ``path``, found without importing it (see discovery.py)."""
        if not isinstance(path, str) or "." not in path:
            raise InvalidTask(f"{path!r} is not the import path of a task.")
        found = discovery.defined(path)
        if found is not None:
            return found
        broken = discovery.import_task_modules(self.task_modules)
        found = discovery.defined(path)
        if found is not None:
            return found
        raise InvalidTask(
            f"{path!r} is not a task: no function decorated with @task is defined there in the "
            "tasks module of an installed app or in "
            f"TASKS[{self.alias!r}]['OPTIONS']['task_modules'], and the path a job row names "
            "is never imported."
            + (f" Task modules that failed to import: {'; '.join(broken)}." if broken else "")
        )


def send(signal: Any, sender: type, result: TaskResult) -> None:
    """Send a framework signal; a receiver's error is logged, never raised into our work."""
    for receiver, response in signal.send_robust(sender=sender, task_result=result):
        if isinstance(response, Exception):
            logger.error(
                "event=task_signal_receiver_failed receiver=%r task=%s id=%s",
                receiver,
                result.task.module_path,
                result.id,
                exc_info=response,
            )
