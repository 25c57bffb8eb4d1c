"""django-db-queue 3.x names and behaviours, in one place.

Job, Job.objects and Worker inherit these mixins so that code (and tests) written for 3.x keep
working; new code has better ways, named in each docstring. docs/upgrading.md lists what 3.x
did that this package deliberately does differently.
"""

from __future__ import annotations

import datetime
import logging
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError
from django.utils import timezone

from .exceptions import UndeclaredTaskError
from .registry import get_registry

if TYPE_CHECKING:
    from .models import Job

logger = logging.getLogger(__name__)

# What 3.x's worker loop slept before looking for each job.
LEGACY_POLL_SECONDS = 1


class LegacyJobMixin:
    """Job's methods from 3.x."""

    name: str
    next_task: str
    step: int

    def update_next_task(self) -> None:
        """3.x: point this job (unsaved) at the task after next_task; "" after the last."""
        spec = get_registry().get(self.name)
        tasks = spec.tasks
        index = spec.step_of(self.step, self.next_task)
        if index is None:
            raise UndeclaredTaskError(
                f"job {self.name!r} has next_task {self.next_task!r}, which JOBS does not "
                f"declare for it; its tasks are {list(tasks)}"
            )
        self.step = index + 1
        self.next_task = tasks[self.step] if self.step < len(tasks) else ""

    @classmethod
    def get_queue_depths(cls, *, exclude_future_jobs: bool = False) -> dict[str, int]:
        """3.x: waiting jobs per queue name (new code: Job.objects.queue_depths())."""
        return cls._default_manager.queue_depths(  # type: ignore[attr-defined]
            exclude_future_jobs=exclude_future_jobs
        )


class LegacyJobQuerySetMixin:
    """Job.objects' methods from 3.x, which locked a job to claim it (new code: a Worker)."""

    def to_process(self, queue_name: str) -> Any:
        """3.x: runnable jobs of a queue, locked for update (use in atomic())."""
        runnable = self.select_for_update().runnable(queue_name)  # type: ignore[attr-defined]
        return runnable.order_by("-priority", "created")

    def get_ready_or_none(self, queue_name: str, max_retries: int = 3) -> Job | None:
        """3.x: the next runnable job of a queue, locked, or None."""
        for attempt in range(max_retries + 1):
            try:
                return self.to_process(queue_name).first()
            except DatabaseError:
                if attempt == max_retries:
                    raise
                logger.warning("event=claim_retry queue=%s attempt=%s", queue_name, attempt + 1)
        return None


class LegacyWorkerMixin:
    """Worker's loop iteration from 3.x, for code that drove a worker itself."""

    rate_limit_in_seconds: float
    _process_job: Callable[[], None]
    # When process_job() last looked for a job (None before its first call), as in 3.x.
    last_job_finished: datetime.datetime | None = None

    def process_job(self) -> None:
        """3.x: sleep a second, then run one step unless the last call was within the rate limit.

        New code calls run() (with burst=True to stop once the queue is empty), which waits
        for work without a fixed sleep.
        """
        # 3.x code and tests patch ``sleep`` in the worker command's module, so use that one
        # when it is loaded (importing it would be a loop: it imports Worker, which imports this).
        command = sys.modules.get("django_dbq.management.commands.worker")
        (command.sleep if command is not None else time.sleep)(LEGACY_POLL_SECONDS)
        last = self.last_job_finished
        if last and (timezone.now() - last).total_seconds() < self.rate_limit_in_seconds:
            return
        self._process_job()
        self.last_job_finished = timezone.now()
