"""The Job admin: a fast list, a readable read-mostly detail page, and safe bulk actions."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from ..conf import settings as conf
from ..models import ACTIVE_STATES, WAITING_STATES, Job, JobState
from ..registry import get_registry
from .listing import (
    COUNT_LIMIT,
    AtLeast,
    CappedCountPaginator,
    QueueFilter,
    RegistryNameFilter,
    humanize_delta,
    preformatted,
    pretty_json,
)

logger = logging.getLogger(__name__)

# States in which no worker holds the job, so a form may change it without racing one.
EDITABLE_STATES = (JobState.NEW, JobState.READY, JobState.FAILED, JobState.CANCELLED)
EDITABLE_FIELDS = ("queue_name", "priority", "run_after", "workspace")
# Columns the list never loads: they can be large, and the detail page shows them.
HEAVY_FIELDS = ("workspace", "traceback", "result", "last_error")

STATE_COLOURS = {
    JobState.NEW: "#417690",
    JobState.READY: "#417690",
    JobState.PROCESSING: "#b8860b",
    JobState.STOPPING: "#b8860b",
    JobState.COMPLETED: "#2e7d32",
    JobState.FAILED: "#ba2121",
    JobState.CANCELLED: "#666",
}


class PrettyJSONField(forms.JSONField):
    """A JSON form field that shows its value indented, for editing by hand."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


class JobForm(forms.ModelForm):
    """Edits a job no worker holds; the workspace must satisfy the job's schema."""

    # The row's ``modified`` when the form was shown: the save is refused if it changed since.
    seen_modified = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Job
        fields = EDITABLE_FIELDS
        field_classes = {"workspace": PrettyJSONField}
        widgets = {"workspace": forms.Textarea(attrs={"rows": 12, "cols": 80})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.modified is not None:
            self.initial["seen_modified"] = self.instance.modified.isoformat()

    def clean_workspace(self) -> Any:
        workspace = self.cleaned_data.get("workspace")
        spec = get_registry().specs.get(self.instance.name)
        if spec is not None:
            from ..exceptions import InvalidWorkspaceError

            try:
                spec.validate_workspace(workspace)
            except InvalidWorkspaceError as error:
                raise forms.ValidationError(str(error)) from None
        return workspace


class JobAdmin(admin.ModelAdmin):
    """Lists, inspects and acts on jobs; stays fast with millions of rows."""

    form = JobForm
    list_display = (
        "short_id",
        "state_badge",
        "name",
        "queue_name",
        "priority",
        "step_progress",
        "attempts",
        "created",
        "run_after",
        "duration",
    )
    list_display_links = ("short_id",)
    list_filter = ("state", RegistryNameFilter, QueueFilter)
    # Searched by get_search_results below: an exact id or an exact name, both indexed.
    search_fields = ("name",)
    search_help_text = "A job id, or a job name (exact)."
    # Sorting by a column would sort the whole table; the default order is served by the
    # (state, created) index: active states first, then FAILED, COMPLETED, CANCELLED; newest first.
    ordering = ("-state", "-created")
    sortable_by = ()
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    actions = ("retry_jobs", "cancel_jobs", "run_now", "delete_jobs")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "name",
                    "state_badge",
                    "queue_name",
                    "priority",
                    "run_after",
                    "seen_modified",
                )
            },
        ),
        (
            "Progress",
            {
                "fields": (
                    "step_progress",
                    "next_task",
                    "attempts",
                    "rescues",
                    "created",
                    "started_at",
                    "finished_at",
                    "duration",
                    "modified",
                )
            },
        ),
        ("Lease", {"fields": ("lease_owner", "lease_expires_at")}),
        ("Workspace", {"fields": ("workspace",)}),
        ("Error", {"fields": ("last_error_text", "traceback_text")}),
        ("Result", {"fields": ("result_json",), "classes": ("collapse",)}),
    )
    always_read_only = (
        "id",
        "name",
        "state_badge",
        "step_progress",
        "next_task",
        "attempts",
        "rescues",
        "created",
        "started_at",
        "finished_at",
        "duration",
        "modified",
        "lease_owner",
        "lease_expires_at",
        "last_error_text",
        "traceback_text",
        "result_json",
    )

    # -- list ---------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if getattr(request, "resolver_match", None) and request.resolver_match.url_name.endswith(
            "_changelist"
        ):
            queryset = queryset.defer(*HEAVY_FIELDS)
        return queryset

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """An id (with or without dashes) finds that job; anything else is an exact name."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(pk=uuid.UUID(term)), False
        except ValueError:
            return queryset.filter(name=term), False

    @admin.display(description="id")
    def short_id(self, job: Job) -> str:
        return str(job.pk)[:8]

    @admin.display(description="state")
    def state_badge(self, job: Job) -> str:
        return format_html(
            '<strong style="color: {}">{}</strong>',
            STATE_COLOURS.get(job.state, "inherit"),
            job.get_state_display(),
        )

    @admin.display(description="step")
    def step_progress(self, job: Job) -> str:
        """ "k of n": the step running, next or failed; "n of n" once completed."""
        spec = get_registry().specs.get(job.name)
        if spec is None:
            return f"{job.step + 1} of ?"
        total = len(spec.tasks)
        if job.state == JobState.COMPLETED:
            return f"{total} of {total}"
        index = spec.step_of(job.step, job.next_task)
        return f"{(job.step if index is None else index) + 1} of {total}"

    @admin.display(description="duration")
    def duration(self, job: Job) -> str:
        """Time since its first step started: until it finished, or until now."""
        if job.started_at is None:
            return "—"
        if job.finished_at is not None:
            return humanize_delta(job.finished_at - job.started_at)
        if job.state in ACTIVE_STATES:
            return humanize_delta(timezone.now() - job.started_at) + " so far"
        return "—"

    # -- detail ------------------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Jobs are enqueued by code or `manage.py create_job`, which run the creation hook.
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Job | None = None) -> tuple:
        if self._editable(request, obj):
            return self.always_read_only
        return (*self.always_read_only, *EDITABLE_FIELDS[:-1], "workspace_json")

    def get_fieldsets(self, request: HttpRequest, obj: Job | None = None) -> Any:
        if self._editable(request, obj):
            return self.fieldsets
        # A job a worker holds, or a completed one, is shown read-only and readable.
        replace = {"workspace": "workspace_json", "seen_modified": None}
        return tuple(
            (
                title,
                {
                    **options,
                    "fields": tuple(
                        replace.get(name, name)
                        for name in options["fields"]
                        if replace.get(name, name) is not None
                    ),
                },
            )
            for title, options in self.fieldsets
        )

    def _editable(self, request: HttpRequest, obj: Job | None) -> bool:
        return (
            obj is not None
            and obj.state in EDITABLE_STATES
            and self.has_change_permission(request, obj)
        )

    @admin.display(description="workspace")
    def workspace_json(self, job: Job) -> str:
        return pretty_json(job.workspace)

    @admin.display(description="result")
    def result_json(self, job: Job) -> str:
        return pretty_json(job.result)

    @admin.display(description="last error")
    def last_error_text(self, job: Job) -> str:
        return preformatted(job.last_error)

    @admin.display(description="traceback")
    def traceback_text(self, job: Job) -> str:
        return preformatted(job.traceback)

    def save_model(self, request: HttpRequest, obj: Job, form: forms.Form, change: bool) -> None:
        """Write only the changed fields, and only if no worker took the job meanwhile."""
        values = {
            name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE_FIELDS
        }
        request._dbq_not_saved = False  # type: ignore[attr-defined]
        if not values:
            return
        spec = get_registry().specs.get(obj.name)
        if "workspace" in values and spec and spec.unique and obj.state in WAITING_STATES:
            from ..uniqueness import unique_key_for

            values["unique_key"] = unique_key_for(spec, values["workspace"])
        guarded = Job.objects.filter(pk=obj.pk, state=obj.state)
        seen = parse_datetime(form.cleaned_data.get("seen_modified") or "")
        if seen is not None:
            guarded = guarded.filter(modified=seen)
        try:
            with transaction.atomic(using=Job.objects.db):
                # Guarded by the row version the form showed: a job a worker touched meanwhile
                # (claimed, advanced, failed) is not overwritten with stale values.
                changed = guarded.update(modified=timezone.now(), **values)
        except IntegrityError:
            changed = 0
            reason = "an active job of the same unique job has the same key"
        else:
            reason = "a worker or another user changed it while you were editing it"
        if not changed:
            request._dbq_not_saved = True  # type: ignore[attr-defined]
            self.message_user(request, f"The job was not saved: {reason}.", messages.ERROR)
            return
        logger.info(
            "event=job_edited job=%s id=%s fields=%s user=%s",
            obj.name,
            obj.pk,
            ",".join(sorted(values)),
            request.user,
        )

    def response_change(self, request: HttpRequest, obj: Job) -> HttpResponse:
        if getattr(request, "_dbq_not_saved", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    # -- actions -----------------------------------------------------------------------------

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        # Replaced by delete_jobs, which neither lists nor loads every selected row.
        actions.pop("delete_selected", None)
        return actions

    @admin.action(
        description="Retry selected jobs from the step they stopped at", permissions=["change"]
    )
    def retry_jobs(self, request: HttpRequest, queryset: QuerySet) -> None:
        duplicates: list[Job] = []
        retried = queryset.order_by().retry(duplicates)
        self._log_action(request, "retry", retried)
        self.message_user(
            request, f"Retried {retried} job(s); only FAILED and CANCELLED jobs are retried."
        )
        if duplicates:
            ids = ", ".join(str(job.pk) for job in duplicates[:10])
            more = f" and {len(duplicates) - 10} more" if len(duplicates) > 10 else ""
            self.message_user(
                request,
                f"{len(duplicates)} unique job(s) were not retried because an active job with "
                f"the same key is waiting or running: {ids}{more}.",
                messages.WARNING,
            )

    @admin.action(description="Cancel selected jobs", permissions=["change"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet) -> None:
        cancelled = queryset.order_by().cancel()
        self._log_action(request, "cancel", cancelled)
        self.message_user(
            request,
            f"Cancelled {cancelled} job(s). A running job is STOPPING until its current step "
            "ends, then CANCELLED; finished jobs are left as they are.",
        )

    @admin.action(description="Run selected jobs now (clear run after)", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        changed = queryset.order_by().run_now()
        self._log_action(request, "run_now", changed)
        self.message_user(
            request, f"{changed} waiting job(s) will run as soon as a worker is free."
        )

    @admin.action(description="Delete selected jobs", permissions=["delete"])
    def delete_jobs(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Delete after a confirmation page; in batches, without loading the rows."""
        if request.POST.get("post") == "yes":
            deleted = delete_in_batches(queryset)
            self._log_action(request, "delete", deleted)
            self.message_user(request, f"Deleted {deleted} job(s).")
            return None
        counted = queryset.order_by()[: COUNT_LIMIT + 1].count()
        select_across = request.POST.get("select_across") == "1"
        context = {
            **self.admin_site.each_context(request),
            "title": "Delete jobs?",
            "opts": self.model._meta,
            "count": AtLeast(counted) if counted > COUNT_LIMIT else counted,
            "running": queryset.order_by().filter(state__in=ACTIVE_STATES).exists(),
            "select_across": select_across,
            "selected": [] if select_across else request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(
            request, "admin/django_dbq/job/delete_jobs_confirmation.html", context
        )

    def _log_action(self, request: HttpRequest, action: str, count: int) -> None:
        logger.info("event=admin_action action=%s count=%s user=%s", action, count, request.user)


def delete_in_batches(queryset: QuerySet) -> int:
    """Delete the rows of a queryset DBQ_DELETE_BATCH_SIZE at a time; returns how many."""
    queryset = queryset.order_by()
    deleted = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[: conf.DBQ_DELETE_BATCH_SIZE])
        if not ids:
            return deleted
        count, _ = Job.objects.filter(pk__in=ids).delete()
        deleted += count
