"""Job.objects: queries over jobs, operators' guarded actions, and bulk enqueue."""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, models, transaction
from django.db.models import Case, Count, F, Q, Value, When
from django.utils import timezone

from .compat import LegacyJobQuerySetMixin
from .conf import settings as conf
from .exceptions import DuplicateJobError
from .registry import get_registry
from .states import FINISHED_STATES, WAITING_STATES, JobState
from .uniqueness import unique_key_for

if TYPE_CHECKING:
    from .models import Job

logger = logging.getLogger(__name__)


class JobQuerySet(LegacyJobQuerySetMixin, models.QuerySet):
    """Queries over jobs."""

    def runnable(self, queue_name: str | None = None, now: datetime.datetime | None = None):
        """Jobs a worker may claim now: waiting, with run_after unset or passed."""
        now = now or timezone.now()
        qs = self.filter(state__in=WAITING_STATES).filter(
            Q(run_after__isnull=True) | Q(run_after__lte=now)
        )
        return qs if queue_name is None else qs.filter(queue_name=queue_name)

    def delete_old(
        self, hours: float | None = None, batch_size: int | None = None, progress=None
    ) -> int:
        """Delete jobs that ended more than ``hours`` after creation, in batches; return how many.

        Ended: COMPLETED, FAILED, CANCELLED, and STOPPING (as 3.x did) once no worker holds a
        live lease on it, i.e. the worker running its cancelled step died.
        """
        hours = conf.DBQ_DELETE_JOBS_AFTER_HOURS if hours is None else hours
        batch_size = batch_size or conf.DBQ_DELETE_BATCH_SIZE
        now = timezone.now()
        # Expired as rescue_expired_leases() sees it: a live lease is one in the future.
        abandoned = Q(state=JobState.STOPPING) & (
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
        )
        old = self.filter(
            Q(state__in=FINISHED_STATES) | abandoned,
            created__lte=now - datetime.timedelta(hours=hours),
        )
        deleted = 0
        while True:
            ids = list(old.order_by().values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            # The DELETE repeats the condition: a job retried, or a lease renewed, since the
            # SELECT is kept.
            count, _ = old.filter(pk__in=ids).delete()
            deleted += count
            if progress:
                progress(deleted)

    def queue_depths(self, exclude_future_jobs: bool = False) -> dict[str, int]:
        """Waiting jobs per queue name."""
        waiting = self.runnable() if exclude_future_jobs else self.filter(state__in=WAITING_STATES)
        rows = waiting.order_by().values("queue_name").annotate(depth=Count("pk"))
        return {row["queue_name"]: row["depth"] for row in rows}

    # Operators' actions (admin, shell). Each is a guarded UPDATE, safe beside running workers.

    def cancel(self) -> int:
        """Cancel these jobs: waiting ones at once, running ones when their step ends.

        A running job becomes STOPPING; its worker makes it CANCELLED when the step ends and
        discards the step's result. Finished jobs are left alone. Returns rows changed.
        """
        now = timezone.now()
        running = Q(state=JobState.PROCESSING)
        # One statement, so a job moving between waiting and running meanwhile is still caught.
        # ``state`` is assigned last: MySQL evaluates SET left to right, and the other CASEs
        # must see the old state.
        changed = self.filter(state__in=(*WAITING_STATES, JobState.PROCESSING)).update(
            finished_at=Case(When(running, then=F("finished_at")), default=Value(now)),
            unique_key=Case(When(running, then=F("unique_key")), default=Value(None)),
            modified=now,
            state=Case(
                When(running, then=Value(JobState.STOPPING)), default=Value(JobState.CANCELLED)
            ),
        )
        if changed:
            logger.info("event=jobs_cancelled count=%s", changed)
        return changed

    def retry(self, duplicates: list[Job] | None = None) -> int:
        """Run FAILED and CANCELLED jobs again from the step they stopped at; returns jobs retried.

        Attempts, rescues, run_after, started_at and finished_at are reset; last_error and
        traceback are kept until the step succeeds. A ``unique`` job gets its key back; one whose
        key an active job holds is left as it is, and appended to ``duplicates`` when given.
        """
        retryable = self.filter(state__in=(JobState.FAILED, JobState.CANCELLED))
        values: dict[str, Any] = dict(
            attempts=0,
            rescues=0,
            run_after=None,
            started_at=None,
            finished_at=None,
            lease_expires_at=None,
            modified=timezone.now(),
            state=JobState.READY,
        )
        registry = get_registry()
        unique = [spec.name for spec in registry.specs.values() if spec.unique]
        changed = retryable.exclude(name__in=unique).update(**values)
        for job in list(retryable.filter(name__in=unique).only("pk", "name", "workspace")):
            key = unique_key_for(registry.get(job.name), job.workspace or {})
            try:
                # A savepoint per job: a collision must not spoil the caller's transaction.
                with transaction.atomic(using=self.db):
                    changed += (
                        self.model.objects.using(self.db)
                        .filter(pk=job.pk, state__in=(JobState.FAILED, JobState.CANCELLED))
                        .update(unique_key=key, **values)
                    )
            except IntegrityError:
                logger.warning("event=retry_duplicate job=%s id=%s", job.name, job.pk)
                if duplicates is not None:
                    duplicates.append(job)
        if changed:
            logger.info("event=jobs_retried count=%s", changed)
        return changed

    def run_now(self) -> int:
        """Let waiting jobs run at once by clearing their run_after; returns jobs changed."""
        changed = self.filter(state__in=WAITING_STATES, run_after__isnull=False).update(
            run_after=None, modified=timezone.now()
        )
        if changed:
            logger.info("event=jobs_run_now count=%s", changed)
        return changed


class JobManager(models.Manager.from_queryset(JobQuerySet)):  # type: ignore[misc]
    """Job.objects."""

    def get_or_enqueue(self, **fields: Any) -> tuple[Job, bool]:
        """Enqueue a job, or return the active duplicate of a ``unique`` job: (job, created)."""
        try:
            return self.create(**fields), True
        except DuplicateJobError as duplicate:
            return duplicate.existing, False

    def enqueue_many(self, jobs: list[Job]) -> list[Job]:
        """Validate and insert many unsaved jobs in a few statements; all or nothing.

        Every job is validated and its creation hook run before anything is inserted. Unlike
        ``bulk_create``, a ``unique`` job colliding with an active one raises IntegrityError
        for the whole call (nothing is saved).
        """
        for job in jobs:
            job.prepare_for_enqueue()
        from .engine.inserts import insert_jobs  # it imports models, which imports this module

        with transaction.atomic(using=self.db):
            insert_jobs(jobs, using=self.db)
        for job in jobs:
            job._enqueued()
        return jobs
