"""The Schedule admin: next and last runs, enable/disable, trigger now, and safe editing.

Schedules declared in JOBS are re-synced by every worker that starts, so their definition is
read-only here (change it in settings); enabling and disabling them sticks.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from ..exceptions import DbqError
from ..models import Schedule
from ..recurrence import format_duration, parse_interval
from ..registry import get_registry
from .listing import DATE_FORMAT, EMPTY, humanize_delta, short_datetime

DEFINITION_FIELDS = (
    "name",
    "job_name",
    "cron",
    "interval",
    "workspace",
    "queue_name",
    "priority",
    "catch_up",
)


class IntervalField(forms.CharField):
    """An interval typed as "90s", "15m", "1h30m", "1d" or seconds, shown the same way."""

    def prepare_value(self, value: Any) -> Any:
        if hasattr(value, "total_seconds"):
            return format_duration(value)
        return value

    def to_python(self, value: Any) -> Any:
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            return parse_interval(value)
        except DbqError as error:
            raise forms.ValidationError(str(error)) from None


class WorkspaceField(forms.JSONField):
    """The spawned jobs' workspace, shown indented."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


class ScheduleForm(forms.ModelForm):
    """Adds or edits a schedule; the model's clean() checks job, rule and workspace."""

    class Meta:
        model = Schedule
        fields = (*DEFINITION_FIELDS, "enabled", "next_run_at")
        field_classes = {"interval": IntervalField, "workspace": WorkspaceField}
        widgets = {"workspace": forms.Textarea(attrs={"rows": 6, "cols": 60})}
        help_texts = {
            "next_run_at": "Empty: computed from the rule. Set it to run next at that time; "
            "the rule takes over after it. A changed rule, or enabling again, computes it afresh.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "job_name" in self.fields:
            names = get_registry().names()
            current = self.instance.job_name
            if current and current not in names:
                names.append(current)
            self.fields["job_name"] = forms.ChoiceField(
                choices=[("", "---------")] + [(name, name) for name in names],
                help_text="A job declared in JOBS.",
            )
        if "workspace" in self.fields:
            self.fields["workspace"].required = False

    def clean_workspace(self) -> Any:
        workspace = self.cleaned_data.get("workspace")
        return {} if workspace is None else workspace


class FromSettingsFilter(admin.SimpleListFilter):
    """Declared in JOBS, or made at run time."""

    title = "declared in"
    parameter_name = "source"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [("settings", "settings (JOBS)"), ("runtime", "run time")]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        if self.value() == "settings":
            return queryset.declared_in_settings()
        if self.value() == "runtime":
            return queryset.filter(settings_hash="")
        return queryset


class ScheduleAdmin(admin.ModelAdmin):
    """Lists schedules with their next and last run; enables, disables and triggers them."""

    form = ScheduleForm
    list_display = (
        "name",
        "job_name",
        "rule",
        "next_run",
        "last_run",
        "enabled",
        "missed",
        "declared_in",
        "has_error",
    )
    list_filter = ("enabled", FromSettingsFilter, "catch_up", "job_name")
    search_fields = ("name", "job_name")
    actions = ("enable_schedules", "disable_schedules", "trigger_now")
    empty_value_display = EMPTY

    class Media:
        css = {"all": ("django_dbq/admin.css",)}

    always_read_only = ("last_run_at", "last_error_text", "declared_in", "recent_jobs", "modified")
    fieldsets = (
        (None, {"fields": ("name", "job_name", "enabled", "declared_in")}),
        ("When", {"fields": ("cron", "interval", "catch_up", "next_run_at", "last_run_at")}),
        ("Spawned jobs", {"fields": ("workspace", "queue_name", "priority", "recent_jobs")}),
        ("Problems", {"fields": ("last_error_text", "modified")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Schedule | None = None) -> tuple:
        if obj is not None and obj.from_settings:
            return (*self.always_read_only, *DEFINITION_FIELDS)
        return self.always_read_only

    def has_delete_permission(self, request: HttpRequest, obj: Schedule | None = None) -> bool:
        # A worker would re-create a declared schedule: remove it from JOBS instead.
        if obj is not None and obj.from_settings:
            return False
        return super().has_delete_permission(request, obj)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The list's columns need the width of a 1400 px window; the breadcrumbs navigate.
        extra_context = {"is_nav_sidebar_enabled": False, **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    # -- columns -------------------------------------------------------------------------------

    @admin.display(description="when")
    def rule(self, schedule: Schedule) -> str:
        return format_html("<code>{}</code>", schedule.when)

    @admin.display(description="next run", ordering="next_run_at")
    def next_run(self, schedule: Schedule) -> str:
        if not schedule.enabled:
            return "(disabled)"
        if schedule.next_run_at is None:
            return EMPTY
        delta = schedule.next_run_at - timezone.now()
        if delta.total_seconds() <= 0:
            return format_html("{} (due)", short_datetime(schedule.next_run_at))
        return format_html(
            "{} (in {})",
            short_datetime(schedule.next_run_at),
            humanize_delta(delta),
        )

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, schedule: Schedule) -> str:
        return short_datetime(schedule.last_run_at)

    @admin.display(description="declared in")
    def declared_in(self, schedule: Schedule) -> str:
        return "settings (JOBS)" if schedule.from_settings else "run time"

    @admin.display(description="missed", ordering="catch_up")
    def missed(self, schedule: Schedule) -> str:
        # The catch-up rule's short name (skip, once, all): its label would take the width of
        # two columns; the filter and the form show the labels.
        return format_html(
            '<span title="{}">{}</span>', schedule.get_catch_up_display(), schedule.catch_up
        )

    @admin.display(description="error")
    def has_error(self, schedule: Schedule) -> str:
        # Marked only when there is one: a red icon on every healthy row would read as an alarm.
        if not schedule.last_error:
            return EMPTY
        return format_html(
            '<strong class="dbq-error-mark" title="{}">error</strong>', schedule.last_error
        )

    @admin.display(description="last error")
    def last_error_text(self, schedule: Schedule) -> str:
        return format_html("<pre>{}</pre>", schedule.last_error) if schedule.last_error else EMPTY

    @admin.display(description="recent jobs")
    def recent_jobs(self, schedule: Schedule) -> str:
        if schedule.pk is None:
            return EMPTY
        jobs = schedule.jobs.order_by("-created").only("id", "state", "scheduled_for", "created")[
            :10
        ]
        rows = [
            (
                str(job.pk),
                job.state,
                timezone.localtime(job.scheduled_for).strftime(DATE_FORMAT)
                if job.scheduled_for
                else "triggered by hand",
            )
            for job in jobs
        ]
        if not rows:
            return EMPTY
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li><code>{}</code> {} — {}</li>", rows)
        )

    # -- actions -------------------------------------------------------------------------------

    @admin.action(description="Enable selected schedules (from their next occurrence)")
    def enable_schedules(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for schedule in queryset.filter(enabled=False):
            try:
                schedule.enable()
                count += 1
            except DbqError as error:
                # A schedule whose job left JOBS (or whose rule broke) cannot be enabled.
                self.message_user(request, f"{schedule.name}: {error}", messages.ERROR)
        self.message_user(request, f"Enabled {count} schedule(s).", messages.SUCCESS)

    @admin.action(description="Disable selected schedules")
    def disable_schedules(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = queryset.filter(enabled=True).update(enabled=False, modified=timezone.now())
        self.message_user(request, f"Disabled {count} schedule(s).", messages.SUCCESS)

    @admin.action(description="Trigger selected schedules now (enqueue one job each)")
    def trigger_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        triggered = 0
        for schedule in queryset:
            try:
                schedule.trigger()
                triggered += 1
            except DbqError as error:
                self.message_user(request, f"{schedule.name}: {error}", messages.ERROR)
        if triggered:
            self.message_user(request, f"Enqueued {triggered} job(s).", messages.SUCCESS)
