"""The Schedule model: a recurring job, spawned once per occurrence of a cron rule or interval.

The rules themselves are in recurrence.py, spawning in scheduler.py, and the schedules declared in
JOBS are synced by schedule_sync.py.
"""

from __future__ import annotations

import copy
import datetime
import logging
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models, router
from django.utils import timezone

from .exceptions import DbqError, InvalidScheduleError
from .recurrence import (
    CatchUp,
    Cron,
    Interval,
    Recurrence,
    for_storage,
    format_duration,
    validate_cron,
    validate_interval,
)
from .registry import get_registry

if TYPE_CHECKING:
    from .models import Job

logger = logging.getLogger(__name__)


class ScheduleQuerySet(models.QuerySet):
    """Queries over schedules."""

    def due(self, now: datetime.datetime | None = None):
        """Enabled schedules whose next run time has come."""
        return self.filter(enabled=True, next_run_at__lte=now or timezone.now())

    def declared_in_settings(self):
        """Schedules synced from the ``schedules`` entries of JOBS."""
        return self.exclude(settings_hash="")


class Schedule(models.Model):
    """A recurring job: one job per occurrence of a cron expression or of a fixed interval."""

    CatchUp = CatchUp

    # Matched byte for byte: migration 0013 gives it a binary collation on MariaDB/MySQL.
    name = models.CharField(max_length=100, unique=True)
    job_name = models.CharField(max_length=100, help_text="A job declared in JOBS.")
    cron = models.CharField(
        max_length=255,
        blank=True,
        help_text='Five fields, in the project\'s TIME_ZONE: "0 3 * * *" is 03:00 every day.',
    )
    interval = models.DurationField(
        null=True, blank=True, help_text="Or a fixed interval (at least one second)."
    )
    # The workspace each spawned job starts with (validated against the job's schema).
    workspace = models.JSONField(default=dict, blank=True)
    queue_name = models.CharField(max_length=100, default="default")
    priority = models.SmallIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    catch_up = models.CharField(max_length=10, choices=CatchUp.choices, default=CatchUp.SKIP)
    # The oldest occurrence not yet handled: the scheduler spawns it once this time has come.
    next_run_at = models.DateTimeField(null=True, blank=True)
    # When this schedule last spawned a job.
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Why the last occurrence spawned no job ("" when it did).
    last_error = models.TextField(blank=True, editable=False)
    # Fingerprint of the JOBS declaration this row was synced from; "" for schedules made at
    # run time (admin, code, command). Syncing compares it instead of every field.
    settings_hash = models.CharField(max_length=64, blank=True, editable=False)
    created = models.DateTimeField(default=timezone.now, editable=False)
    modified = models.DateTimeField(auto_now=True)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        app_label = "django_dbq"
        ordering = ["name"]
        indexes = [
            # The scheduler's look for due rows, once a second per worker.
            models.Index(fields=["enabled", "next_run_at"], name="dbq_schedule_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.when})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Validate, then save; a new or changed rule (or re-enabling) sets next_run_at afresh.

        Raises InvalidScheduleError, naming each wrong field, and saves nothing.
        """
        errors = self.definition_errors()
        if errors:
            details = "; ".join(f"{field}: {message}" for field, message in errors.items())
            raise InvalidScheduleError(f"schedule {self.name!r} is invalid: {details}", errors)
        if self.needs_next_run_at():
            self.next_run_at = self.first_run_after(timezone.now())
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "next_run_at", "modified"}
        super().save(*args, **kwargs)
        self._remember_loaded()

    def clean(self) -> None:
        """Model validation (admin and forms): the definition must be valid."""
        errors = self.definition_errors()
        if errors:
            raise ValidationError(errors)

    @classmethod
    def from_db(cls, db, field_names, values, **kwargs):
        # **kwargs: Django 6.1 passes fetch_mode.
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._remember_loaded()
        return instance

    @property
    def when(self) -> str:
        """The rule, for people: the cron expression or "every 1h30m"."""
        if self.cron:
            return self.cron
        if self.interval is not None:
            return f"every {format_duration(self.interval)}"
        return "never"

    @property
    def from_settings(self) -> bool:
        """Whether this schedule is declared in JOBS (a worker re-syncs it on start)."""
        return bool(self.settings_hash)

    def recurrence(self, anchor: datetime.datetime | None = None) -> Recurrence:
        """The rule as an object; an interval's grid is anchored at ``anchor``."""
        if self.cron:
            return Cron(self.cron)
        return Interval(self.interval, anchor=anchor)

    # -- validation and saving -----------------------------------------------------------------

    def definition_errors(self) -> dict[str, str]:
        """What is wrong with this schedule's definition, by field; empty when it is valid."""
        errors: dict[str, str] = {}
        if not self.name:
            errors["name"] = "A schedule needs a name."
        spec = None
        try:
            spec = get_registry().get(self.job_name)
        except DbqError as error:
            errors["job_name"] = str(error)
        if bool(self.cron) == (self.interval is not None):
            errors["cron"] = "Give either a cron expression or an interval, not both or neither."
        elif self.cron:
            try:
                self.cron = validate_cron(self.cron)
            except InvalidScheduleError as error:
                errors["cron"] = str(error)
        else:
            try:
                validate_interval(self.interval)
            except InvalidScheduleError as error:
                errors["interval"] = str(error)
        if self.catch_up not in CatchUp.values:
            errors["catch_up"] = f"Must be one of {', '.join(CatchUp.values)}."
        if spec is not None:
            try:
                spec.validate_workspace(self.workspace)
            except DbqError as error:
                errors["workspace"] = str(error)
        return errors

    def first_run_after(self, now: datetime.datetime) -> datetime.datetime:
        """The next occurrence after ``now``; an interval keeps its grid when it has one."""
        loaded = getattr(self, "_loaded", None)
        same_rule = loaded is not None and loaded[:2] == (self.cron, self.interval)
        anchor = self.next_run_at if same_rule else None
        return for_storage(self.recurrence(anchor=anchor).next_after(now))

    def needs_next_run_at(self) -> bool:
        """Whether saving must compute next_run_at: new, rule changed, or enabled again."""
        if not self.enabled:
            return False
        loaded = getattr(self, "_loaded", None)
        if self.next_run_at is None or loaded is None:
            return self.next_run_at is None
        rule_changed = loaded[:2] != (self.cron, self.interval)
        re_enabled = not loaded[2]
        return rule_changed or re_enabled

    def _remember_loaded(self) -> None:
        # Deferred fields are not read here: that would cost a query per row.
        if self.get_deferred_fields() & {"cron", "interval", "enabled"}:
            self._loaded = None
        else:
            self._loaded = (self.cron, self.interval, self.enabled)

    # -- operations ----------------------------------------------------------------------------

    def enable(self) -> None:
        """Resume: the next run is the rule's next occurrence (missed ones are not caught up)."""
        if not self.enabled:
            self.enabled = True
            self.save(update_fields=["enabled", "modified"])

    def disable(self) -> None:
        """Stop at once: no occurrence is spawned after this commits.

        A plain UPDATE, not save(): a schedule that no longer validates (its job left JOBS, say)
        must still be stoppable.
        """
        if self.enabled:
            self.enabled = False
            self.modified = timezone.now()
            using = router.db_for_write(type(self), instance=self)
            type(self)._base_manager.using(using).filter(pk=self.pk).update(
                enabled=False, modified=self.modified
            )
            self._remember_loaded()

    def new_job(self, scheduled_for: datetime.datetime | None = None) -> Job:
        """An unsaved job as this schedule spawns it."""
        from .models import Job  # models imports this module

        return Job(
            name=self.job_name,
            workspace=copy.deepcopy(self.workspace) if self.workspace is not None else {},
            queue_name=self.queue_name,
            priority=self.priority,
            schedule=self,
            scheduled_for=scheduled_for,
        )

    def trigger(self) -> Job:
        """Enqueue one job now, outside the rule; next_run_at is unchanged."""
        job = self.new_job()
        job.save()
        now = timezone.now()
        Schedule.objects.filter(pk=self.pk).update(last_run_at=now, modified=now)
        self.last_run_at = now
        logger.info(
            "event=schedule_triggered schedule=%s job=%s id=%s", self.name, job.name, job.pk
        )
        return job
