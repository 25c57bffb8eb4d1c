"""The Job model: one row per job, moving through its pipeline of tasks."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.db import models
from django.db.models import BooleanField, Case, Count, F, Func, Q, Value, When
from django.utils import timezone

# Imported here rather than inside the methods that use them: enqueueing runs those for every
# job, and an import statement in a function costs about a microsecond per call.
from . import signals
from .conf import settings as conf
from .exceptions import DuplicateJobError, EnqueueError
from .ids import new_job_id
from .registry import JobSpec, get_registry

logger = logging.getLogger(__name__)


class JobState(models.TextChoices):
    """The states of a job."""

    # Enqueued; its first step has not started yet.
    NEW = "NEW", "New"
    # Between two steps, or waiting for a retry; runnable once run_after has passed.
    READY = "READY", "Ready"
    # A worker holds the lease and is running a step.
    PROCESSING = "PROCESSING", "Processing"
    # Cancelled while a step was running; becomes CANCELLED when that step ends.
    STOPPING = "STOPPING", "Stopping"
    # Every step ran.
    COMPLETED = "COMPLETED", "Completed"
    # A step failed with no attempts left; last_error and traceback say why.
    FAILED = "FAILED", "Failed"
    # Cancelled; no further step runs.
    CANCELLED = "CANCELLED", "Cancelled"


# django-db-queue 3.x spelled COMPLETED as COMPLETE; keep the old name as an alias.
JobState.COMPLETE = JobState.COMPLETED  # type: ignore[attr-defined]

WAITING_STATES = (JobState.NEW, JobState.READY)
ACTIVE_STATES = (JobState.NEW, JobState.READY, JobState.PROCESSING, JobState.STOPPING)
FINISHED_STATES = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)
# A worker holds these jobs' leases.
LEASED_STATES = (JobState.PROCESSING, JobState.STOPPING)


def leased_states() -> Func:
    """A filter for jobs in LEASED_STATES that can use the partial index dbq_job_lease_idx.

    It writes the states out as literals: SQLite uses a partial index only when the query
    repeats the index's condition term for term, which a parameter never does. PostgreSQL
    proves it either way; MariaDB/MySQL keep a full index.
    """
    states = ", ".join(f"'{state.value}'" for state in LEASED_STATES)
    return Func(F("state"), template=f"%(expressions)s IN ({states})", output_field=BooleanField())


class JobQuerySet(models.QuerySet):
    """Queries over jobs."""

    def runnable(self, queue_name: str | None = None, now: datetime.datetime | None = None):
        """Jobs a worker may claim now: waiting, with run_after unset or passed."""
        now = now or timezone.now()
        qs = self.filter(state__in=WAITING_STATES).filter(
            Q(run_after__isnull=True) | Q(run_after__lte=now)
        )
        return qs if queue_name is None else qs.filter(queue_name=queue_name)

    def to_process(self, queue_name: str):
        """django-db-queue 3.x: runnable jobs of a queue, locked for update (use in atomic())."""
        return self.select_for_update().runnable(queue_name).order_by("-priority", "created")

    def get_ready_or_none(self, queue_name: str, max_retries: int = 3):
        """django-db-queue 3.x: the next runnable job of a queue, locked, or None."""
        from django.db import DatabaseError

        for attempt in range(max_retries + 1):
            try:
                return self.to_process(queue_name).first()
            except DatabaseError:
                if attempt == max_retries:
                    raise
                logger.warning("event=claim_retry queue=%s attempt=%s", queue_name, attempt + 1)
        return None

    def delete_old(
        self, hours: float | None = None, batch_size: int | None = None, progress=None
    ) -> int:
        """Delete finished jobs created more than ``hours`` ago, in batches; return how many."""
        hours = conf.DBQ_DELETE_JOBS_AFTER_HOURS if hours is None else hours
        batch_size = batch_size or conf.DBQ_DELETE_BATCH_SIZE
        cutoff = timezone.now() - datetime.timedelta(hours=hours)
        old = self.filter(state__in=FINISHED_STATES, created__lte=cutoff)
        deleted = 0
        while True:
            ids = list(old.order_by().values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            count, _ = self.model.objects.filter(pk__in=ids).delete()
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
        from django.db import IntegrityError, transaction

        from .uniqueness import unique_key_for

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
        from django.db import transaction

        for job in jobs:
            job.prepare_for_enqueue()
        from .bulk import insert_jobs

        with transaction.atomic(using=self.db):
            insert_jobs(jobs, using=self.db)
        for job in jobs:
            job._enqueued()
        return jobs


class Job(models.Model):
    """A job: a named pipeline of tasks sharing one JSON workspace."""

    STATES = JobState

    # Time-ordered (see ids.py); jobs enqueued by django-db-queue 3.x keep their random ids.
    id = models.UUIDField(primary_key=True, default=new_job_id, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    modified = models.DateTimeField(auto_now=True)
    name = models.CharField(max_length=100)
    state = models.CharField(max_length=20, choices=JobState.choices, default=JobState.NEW)
    # Import path of the task the next step runs, "" once completed.
    next_task = models.CharField(max_length=255, blank=True)
    # Index into the job's task list of the next step.
    step = models.PositiveIntegerField(default=0)
    workspace = models.JSONField(null=True, blank=True)
    queue_name = models.CharField(max_length=100, default="default")
    priority = models.SmallIntegerField(default=0)
    run_after = models.DateTimeField(null=True, blank=True)
    # Claims of the current step, including the running one; reset when a step succeeds.
    attempts = models.PositiveIntegerField(default=0)
    # Times a lease of this job expired because its worker died.
    rescues = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    # Uniqueness key of a "unique" job while it is active; NULL once it has finished.
    unique_key = models.CharField(max_length=255, null=True, blank=True)
    # The value a task stored with set_result (used by the django.tasks backend).
    result = models.JSONField(null=True, blank=True)
    # The schedule that spawned this job, and the occurrence it was spawned for (NULL when it
    # was triggered by hand). Its unique constraint is the backstop of "one job per occurrence";
    # its index also serves the foreign key, so the column needs no index of its own.
    schedule = models.ForeignKey(
        "django_dbq.Schedule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
        db_index=False,
    )
    scheduled_for = models.DateTimeField(null=True, blank=True)

    objects = JobManager()

    class Meta:
        ordering = ["-priority", "created"]
        indexes = [
            # The claim: waiting jobs of one queue, already in claim order. Partial, so it holds
            # only waiting jobs and stays tiny however many finished jobs the table keeps.
            # MariaDB/MySQL have no partial indexes: migration 0009 keeps their full
            # (queue_name, state, priority, created) index dbq_job_claim_idx instead.
            models.Index(
                fields=["queue_name", "-priority", "created"],
                condition=Q(state__in=WAITING_STATES),
                name="dbq_job_waiting_idx",
            ),
            # Rescue of expired leases: running jobs only (queries repeat the condition with
            # leased_states() so that SQLite sees it applies).
            models.Index(
                fields=["state", "lease_expires_at"],
                condition=Q(state__in=LEASED_STATES),
                name="dbq_job_lease_idx",
            ),
            # Pruning of old finished jobs.
            models.Index(fields=["state", "created"], name="dbq_job_state_created_idx"),
        ]
        # Partial, so a job without a key or a schedule costs them nothing. MariaDB/MySQL keep
        # full ones (migration 0011): Django cannot create conditional unique constraints there.
        constraints = [
            models.UniqueConstraint(
                fields=["name", "unique_key"],
                condition=Q(unique_key__isnull=False),
                name="dbq_job_unique_active",
            ),
            models.UniqueConstraint(
                fields=["schedule", "scheduled_for"],
                condition=Q(schedule__isnull=False),
                name="dbq_job_schedule_occurrence",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.pk} ({self.state})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save; a new job is validated and its creation hook run first (nothing saved on error).

        A new job of a ``unique`` job type whose key matches an active job raises
        DuplicateJobError, whose ``existing`` attribute is that job. A running job saved from
        its task writes its data only, under its lease (see leased_save.py).
        """
        if not self._state.adding:
            if self.state == JobState.PROCESSING and self.lease_owner:
                from .leased_save import save_under_lease

                save_under_lease(self, **kwargs)
            else:
                super().save(*args, **kwargs)
            return
        self.prepare_for_enqueue()
        if self.unique_key is None:
            super().save(*args, **kwargs)
        else:
            self._save_unique(*args, **kwargs)
        self._enqueued()

    def _save_unique(self, *args: Any, **kwargs: Any) -> None:
        """Insert a new ``unique`` job; raise DuplicateJobError when an active one holds its key."""
        from django.db import IntegrityError, router, transaction

        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        connection = transaction.get_connection(using)
        try:
            if connection.in_atomic_block or not connection.get_autocommit():
                # A savepoint, so a collision leaves the caller's transaction usable.
                with transaction.atomic(using=using):
                    super().save(*args, **kwargs)
            else:
                # In autocommit a failed INSERT leaves nothing to roll back: no transaction
                # (and no BEGIN and COMMIT round trips) needed.
                super().save(*args, **kwargs)
        except IntegrityError:
            existing = (
                type(self)
                .objects.using(using)
                .filter(name=self.name, unique_key=self.unique_key)
                .first()
            )
            if existing is None:
                raise
            raise DuplicateJobError(
                f"a unique {self.name!r} job with the same key is already "
                f"{existing.state.lower()}: {existing.pk}",
                existing=existing,
            ) from None

    @classmethod
    def check(cls, **kwargs: Any) -> list:
        """Django's model checks, without its warnings that MariaDB/MySQL ignore conditions.

        W037 (partial indexes): migration 0009 does not create dbq_job_waiting_idx there.
        W036 (conditional unique constraints): migration 0011 keeps full ones there, which
        enforce the same rule. See those migrations' docstrings.
        """
        ignored = ("models.W036", "models.W037")
        return [error for error in super().check(**kwargs) if error.id not in ignored]

    @property
    def spec(self) -> JobSpec:
        """This job's declaration in JOBS; raises UnknownJobError if it is not declared."""
        return get_registry().get(self.name)

    def prepare_for_enqueue(self) -> None:
        """Validate name and workspace, point at the first task and run the creation hook."""
        spec = get_registry().get(self.name)
        if self.workspace is None:
            self.workspace = {}
        spec.validate_workspace(self.workspace)
        self._validate_placement()
        self.step = 0
        self.next_task = spec.tasks[0]
        if spec.creation_hook:
            logger.info("event=creation_hook job=%s hook=%s", self.name, spec.creation_hook)
            spec.resolve(spec.creation_hook)(self)
            spec.validate_workspace(self.workspace)
        if spec.unique and self.unique_key is None:
            from .uniqueness import unique_key_for

            self.unique_key = unique_key_for(spec, self.workspace)

    def _validate_placement(self) -> None:
        if not isinstance(self.queue_name, str) or not 0 < len(self.queue_name) <= 100:
            raise EnqueueError(
                f"queue_name must be a non-empty string of at most 100 characters, "
                f"not {self.queue_name!r}"
            )
        if (
            isinstance(self.priority, bool)
            or not isinstance(self.priority, int)
            or not (-32768 <= self.priority <= 32767)
        ):
            raise EnqueueError(
                f"priority must be a whole number from -32768 to 32767, not {self.priority!r}"
            )

    def _enqueued(self) -> None:
        logger.info(
            "event=job_enqueued job=%s id=%s queue=%s priority=%s",
            self.name,
            self.pk,
            self.queue_name,
            self.priority,
        )
        signals.send(signals.job_enqueued, job=self)

    def cancel(self) -> int:
        """Cancel this job (see JobQuerySet.cancel) and reload its state; returns rows changed."""
        changed = type(self).objects.using(self._state.db).filter(pk=self.pk).cancel()
        self.refresh_from_db(fields=["state", "finished_at", "unique_key", "modified"])
        return changed

    @staticmethod
    def get_queue_depths(*, exclude_future_jobs: bool = False) -> dict[str, int]:
        """django-db-queue 3.x: waiting jobs per queue name."""
        return Job.objects.queue_depths(exclude_future_jobs=exclude_future_jobs)

    @property
    def step_count(self) -> int | None:
        """How many steps this job's pipeline has, or None when its name is not in JOBS."""
        spec = get_registry().specs.get(self.name)
        return len(spec.tasks) if spec else None


# Defined in their own module; imported here so Django registers the model with the app.
from .schedules import Schedule, ScheduleQuerySet  # noqa: E402, F401
