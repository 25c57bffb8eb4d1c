"""The Job model: one row per job, moving through its pipeline of tasks."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, models, router, transaction
from django.db.models import Q
from django.utils import timezone

# Imported here rather than inside the methods that use them: enqueueing runs those for every
# job, and an import statement in a function costs about a microsecond per call.
from . import signals
from .compat import LegacyJobMixin
from .exceptions import DuplicateJobError, EnqueueError
from .flow import concurrency_key_for
from .ids import new_job_id
from .queries import JobManager, JobQuerySet  # noqa: F401 - importable from here, as before
from .registry import JobSpec, get_registry
from .states import (  # noqa: F401 - importable from here, as before
    ACTIVE_STATES,
    FINISHED_STATES,
    LEASED_STATES,
    WAITING_STATES,
    JobState,
    leased_states,
)
from .uniqueness import unique_key_for

logger = logging.getLogger(__name__)


class Job(LegacyJobMixin, models.Model):
    """A job: a named pipeline of tasks sharing one JSON workspace."""

    STATES = JobState

    # Time-ordered (see ids.py); jobs enqueued by django-db-queue 3.x keep their random ids.
    id = models.UUIDField(primary_key=True, default=new_job_id, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    modified = models.DateTimeField(auto_now=True)
    # name, queue_name and unique_key match byte for byte: migration 0013 gives them a binary
    # collation on MariaDB/MySQL, which a migration altering them there must keep.
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
    # What the running (or last) step reported with report_progress(): kept across steps and
    # retries until the next report overwrites it (see running.py).
    progress_done = models.PositiveBigIntegerField(null=True, blank=True)
    progress_total = models.PositiveBigIntegerField(null=True, blank=True)
    progress_message = models.CharField(max_length=255, blank=True, default="")
    progress_at = models.DateTimeField(null=True, blank=True)
    # Set at enqueue for a job with a concurrency or rate limit (flow.py): its name and key
    # values. NULL for other jobs, which the claim takes without looking at any limit.
    concurrency_key = models.CharField(max_length=255, null=True, blank=True, editable=False)

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
            # Pruning of old finished jobs, and the admin list (state order, then newest).
            models.Index(fields=["state", "created"], name="dbq_job_state_created_idx"),
            # The admin dashboard: jobs finished in the last hour, and the latest failures.
            # Without it PostgreSQL reads the whole table for these (see migration 0014).
            models.Index(fields=["state", "finished_at"], name="dbq_job_state_finished_idx"),
            # Flow control (engine/keyed.py): the steps of a key running now, and the keyed
            # jobs waiting in a queue, per key in claim order. Partial, so jobs without limits
            # cost them nothing (MariaDB/MySQL get full ones: migration 0018).
            models.Index(
                fields=["concurrency_key", "state"],
                condition=Q(concurrency_key__isnull=False),
                name="dbq_job_key_state_idx",
            ),
            models.Index(
                fields=["queue_name", "concurrency_key", "-priority", "created"],
                condition=Q(state__in=WAITING_STATES, concurrency_key__isnull=False),
                name="dbq_job_key_waiting_idx",
            ),
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
        its task writes its data only, under its lease (see transitions.save_data).
        """
        if not self._state.adding:
            if self.state == JobState.PROCESSING and self.lease_owner:
                from .transitions import save_data  # transitions imports this module

                save_data(self, **kwargs)
            else:
                super().save(*args, **kwargs)
            return
        self.prepare_for_enqueue()
        if self.unique_key is None:
            self._insert(*args, **kwargs)
        else:
            self._save_unique(*args, **kwargs)
        self._enqueued()

    def _insert(self, *args: Any, **kwargs: Any) -> None:
        """Insert this new job: one prepared statement, or Django's save() for unusual calls
        (and for a subclass with a table of its own, whose row Django inserts too)."""
        if (
            args
            or kwargs.get("update_fields") is not None
            or kwargs.get("force_update")
            or type(self)._meta.concrete_model is not Job
        ):
            super().save(*args, **kwargs)
        else:
            insert_new_job(self, kwargs.get("using"))

    def _save_unique(self, *args: Any, **kwargs: Any) -> None:
        """Insert a new ``unique`` job; raise DuplicateJobError when an active one holds its key."""
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        connection = transaction.get_connection(using)
        try:
            if connection.in_atomic_block or not connection.get_autocommit():
                # A savepoint, so a collision leaves the caller's transaction usable.
                with transaction.atomic(using=using):
                    self._insert(*args, **kwargs)
            else:
                # In autocommit a failed INSERT leaves nothing to roll back: no transaction
                # (and no BEGIN and COMMIT round trips) needed.
                self._insert(*args, **kwargs)
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
            self.unique_key = unique_key_for(spec, self.workspace)
        self.concurrency_key = (
            concurrency_key_for(spec.name, spec.key_fields, self.workspace)
            if spec.limited
            else None
        )

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

    def report_progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """From a running task: how far its step is (``done`` of ``total``, and a message).

        Cheap to call often: at most one write every 0.5 s (the last report is written when the
        step ends); a job no longer ours (cancelled, taken over) writes nothing. TypeError or
        ValueError for counts that are not whole numbers >= 0, done > total, or a message
        longer than 255 characters. See running.py.
        """
        from .running import report_progress  # running imports this module

        report_progress(self, done, total, message)

    def cancel_requested(self) -> bool:
        """From a running task: True once an operator cancelled the job (or its lease was lost);
        the task should then return (or raise) early. Reads the row at most every 0.5 s."""
        from .running import cancel_requested  # running imports this module

        return cancel_requested(self)

    @property
    def progress_percent(self) -> int | None:
        """The reported progress as a whole percentage, or None without a known total."""
        if self.progress_done is None or not self.progress_total:
            return None
        return min(100, int(100 * self.progress_done / self.progress_total))

    @property
    def step_count(self) -> int | None:
        """How many steps this job's pipeline has, or None when its name is not in JOBS."""
        spec = get_registry().specs.get(self.name)
        return len(spec.tasks) if spec else None


class Dashboard(Job):
    """No table: the admin's live dashboard, listed on the admin index under this name."""

    class Meta:
        proxy = True
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"
        # Seeing it needs permission to view jobs, not a permission of its own.
        default_permissions = ()


from .engine.inserts import insert_new_job  # noqa: E402 (it imports Job)

# Defined in their own module; imported here so Django registers the model with the app.
from .pauses import QueuePause  # noqa: E402, F401
from .rate_log import StepStart  # noqa: E402, F401
from .schedules import Schedule, ScheduleQuerySet  # noqa: E402, F401
from .worker_rows import WorkerProcess  # noqa: E402, F401
