"""The Job admin: a fast list, a readable read-mostly detail page, and safe bulk actions."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from .. import pauses
from ..flow import concurrency_key_for
from ..models import ACTIVE_STATES, WAITING_STATES, Job, JobState
from ..uniqueness import unique_key_for
from .actions import cancel_jobs, delete_jobs, pause_queues, retry_jobs, run_now
from .forms import EDITABLE_FIELDS, JobForm, spec_of
from .listing import (
    EMPTY,
    PaginatedChangeList,
    QueueFilter,
    RegistryNameFilter,
    StateOrderPaginator,
    humanize_delta,
    preformatted,
    pretty_json,
    short_datetime,
)

logger = logging.getLogger(__name__)

# The list shows the last 8 hex digits of an id; search accepts them.
SHORT_ID_LENGTH = 8
SHORT_ID = re.compile(f"[0-9a-fA-F]{{{SHORT_ID_LENGTH}}}")

# States in which no worker holds the job, so a form may change it without racing one.
EDITABLE_STATES = (JobState.NEW, JobState.READY, JobState.FAILED, JobState.CANCELLED)
# The job list names at most this many paused queues above it.
PAUSED_SHOWN = 10
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

# The buttons of a job's page: (action, label, the list action that does it, whether it applies).
BUTTONS = (
    ("retry", "Retry", retry_jobs, lambda job: job.state in (JobState.FAILED, JobState.CANCELLED)),
    (
        "cancel",
        "Cancel",
        cancel_jobs,
        lambda job: job.state in (*WAITING_STATES, JobState.PROCESSING),
    ),
    (
        "run_now",
        "Run now",
        run_now,
        lambda job: job.state in WAITING_STATES and job.run_after is not None,
    ),
)


def progress_html(job: Job, compact: bool) -> str:
    """A job's reported progress: a bar when its total is known, else the count; EMPTY when
    it reported none."""
    if job.progress_at is None:
        return EMPTY
    percent = job.progress_percent
    counts = (
        f"{job.progress_done} of {job.progress_total}"
        if job.progress_total is not None
        else f"{job.progress_done} done"
    )
    title = f"{counts}: {job.progress_message}" if job.progress_message else counts
    if compact:
        if percent is None:
            return format_html(
                '<span class="dbq-progress-text" title="{}">{}</span>', title, counts
            )
        return format_html(
            '<span class="dbq-progress" title="{}% ({})" role="progressbar" aria-valuenow="{}" '
            'aria-valuemin="0" aria-valuemax="100"><span style="width: {}%"></span></span>',
            percent,
            title,
            percent,
            percent,
        )
    bar = (
        ""
        if percent is None
        else format_html(
            '<span class="dbq-progress dbq-progress-wide" role="progressbar" aria-valuenow="{}" '
            'aria-valuemin="0" aria-valuemax="100"><span style="width: {}%"></span></span> ',
            percent,
            percent,
        )
    )
    return format_html(
        '{}<span class="dbq-progress-text">{}{}, reported {}</span>',
        bar,
        f"{percent}% ({counts})" if percent is not None else counts,
        f": {job.progress_message}" if job.progress_message else "",
        short_datetime(job.progress_at),  # safe HTML (a <time> element): not escaped
    )


class JobAdmin(admin.ModelAdmin):
    """Lists, inspects and acts on jobs; stays fast with millions of rows."""

    form = JobForm
    list_display = (
        "short_id",
        "state_badge",
        "job_name",
        "queue",
        "priority",
        "step_and_progress",
        "attempts",
        "created_at",
        "runs_after",
        "duration",
    )
    list_display_links = ("short_id",)
    list_filter = ("state", RegistryNameFilter, QueueFilter)
    # Searched by get_search_results below: an exact id or an exact name, both indexed.
    search_fields = ("name",)
    search_help_text = "A job id, or a job name (exact)."
    # Sorting by a column would sort the whole table. The paginator lists the states in
    # STATE_ORDER (running, waiting, then finished), each newest first: one range of the
    # (state, created) index per state.
    ordering = ("-created",)
    sortable_by = ()
    paginator = StateOrderPaginator
    # "Show all" lists one page of at most this many rows (PaginatedChangeList).
    list_max_show_all = 100
    show_full_result_count = False
    empty_value_display = EMPTY
    if hasattr(admin, "ShowFacets"):  # Django 5.0+; facets would COUNT per filter choice
        show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    actions = (retry_jobs, cancel_jobs, run_now, pause_queues, delete_jobs)

    class Media:
        css = {"all": ("django_dbq/admin.css",)}

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[PaginatedChangeList]:
        """The ChangeList that lists the paginator's page, in its state order, on every page."""
        return PaginatedChangeList

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
                    "reported_progress",
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
        ("Schedule", {"fields": ("schedule", "scheduled_for"), "classes": ("collapse",)}),
        ("Workspace", {"fields": ("workspace",)}),
        ("Error", {"fields": ("last_error_text", "traceback_text")}),
        ("Result", {"fields": ("result_json",), "classes": ("collapse",)}),
    )
    always_read_only = (
        "id",
        "name",
        "state_badge",
        "step_progress",
        "reported_progress",
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
        "schedule",
        "scheduled_for",
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
        """An id (with or without dashes) finds that job, the list's short id the jobs whose
        ids end with it (a table scan); anything else is an exact name."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(pk=uuid.UUID(term)), False
        except ValueError:
            pass
        if SHORT_ID.fullmatch(term):
            return queryset.filter(Q(pk__endswith=term.lower()) | Q(name=term)), False
        return queryset.filter(name=term), False

    @admin.display(description="id")
    def short_id(self, job: Job) -> str:
        # The end of the id: its beginning is a timestamp, shared by jobs made together.
        return str(job.pk)[-SHORT_ID_LENGTH:]

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
        spec = spec_of(job.name)
        if spec is None:
            return f"{job.step + 1} of ?"
        total = len(spec.tasks)
        if job.state == JobState.COMPLETED:
            return f"{total} of {total}"
        index = spec.step_of(job.step, job.next_task)
        return f"{(job.step if index is None else index) + 1} of {total}"

    @admin.display(description="step")
    def step_and_progress(self, job: Job) -> str:
        """The list's step column: "k of n", underlined by a thin bar of the reported progress
        (no wider and no taller than the text, so the list still fits 1400 px)."""
        step = self.step_progress(job)
        percent = job.progress_percent
        if job.progress_at is None:
            return step
        if percent is None:
            return format_html("{} ({} done)", step, job.progress_done)
        title = f"{percent}% ({job.progress_done} of {job.progress_total}"
        title += f": {job.progress_message})" if job.progress_message else ")"
        return format_html(
            '<span class="dbq-progress-under" style="--dbq-done: {}%" title="{}" '
            'role="progressbar" aria-valuenow="{}" aria-valuemin="0" aria-valuemax="100">'
            "{}</span>",
            percent,
            title,
            percent,
            step,
        )

    @admin.display(description="reported progress")
    def reported_progress(self, job: Job) -> str:
        """The bar, with the counts, the message and when it was reported."""
        return progress_html(job, compact=False)

    @admin.display(description="name")
    def job_name(self, job: Job) -> str:
        # Cut to the column's width by the stylesheet; the title shows it whole.
        return format_html('<span title="{}">{}</span>', job.name, job.name)

    @admin.display(description="queue")
    def queue(self, job: Job) -> str:
        return job.queue_name

    @admin.display(description="created")
    def created_at(self, job: Job) -> str:
        return short_datetime(job.created)

    @admin.display(description="run after")
    def runs_after(self, job: Job) -> str:
        return short_datetime(job.run_after)

    @admin.display(description="duration")
    def duration(self, job: Job) -> str:
        """Time since its first step started: until it finished, or until now."""
        if job.started_at is None:
            return EMPTY
        if job.finished_at is not None:
            return humanize_delta(job.finished_at - job.started_at)
        if job.state in ACTIVE_STATES:
            return humanize_delta(timezone.now() - job.started_at) + " so far"
        return EMPTY

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
        spec = spec_of(obj.name)
        if "workspace" in values and spec and spec.unique and obj.state in WAITING_STATES:
            values["unique_key"] = unique_key_for(spec, values["workspace"])
        if "workspace" in values and spec and spec.limited and obj.state in WAITING_STATES:
            # The form checked that the workspace has the key's fields (forms.JobForm).
            values["concurrency_key"] = concurrency_key_for(
                spec.name, spec.key_fields, values["workspace"]
            )
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

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            # The list's columns need the width of a 1400 px window; the breadcrumbs navigate.
            "is_nav_sidebar_enabled": False,
            "dbq_dashboard_url": self.dashboard_url(),
            "dbq_paused": [str(row) for row in pauses.paused()[:PAUSED_SHOWN]],
            "dbq_pauses_url": self.pauses_url(),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def pauses_url(self) -> str | None:
        """The paused queues' list on this admin site, if it is registered there."""
        try:
            return reverse(f"{self.admin_site.name}:django_dbq_queuepause_changelist")
        except NoReverseMatch:
            return None

    def dashboard_url(self) -> str | None:
        """The dashboard's address on this admin site, if it is registered there."""
        try:
            return reverse(f"{self.admin_site.name}:django_dbq_dashboard_changelist")
        except NoReverseMatch:
            return None

    # -- buttons of a job's page --------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<path:object_id>/do/<str:action>/",
                self.admin_site.admin_view(self.button_view),
                name="django_dbq_job_do",
            )
        ]
        # Before Django's own: its "<path:object_id>/" would swallow these paths.
        return own + super().get_urls()

    def buttons(self, request: HttpRequest, job: Job) -> list[dict[str, str]]:
        """The Retry / Cancel / Run now buttons that apply to this job and this user."""
        if not self.has_change_permission(request, job):
            return []
        return [
            {
                "label": label,
                "url": reverse(f"{self.admin_site.name}:django_dbq_job_do", args=[job.pk, action]),
            }
            for action, label, _, applies in BUTTONS
            if applies(job)
        ]

    def button_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """POST: run one list action on this job (a guarded UPDATE), then show its page again."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        handlers = {name: handler for name, _, handler, _ in BUTTONS}
        job = self.get_object(request, unquote(object_id))
        if action not in handlers or job is None:
            raise Http404("No such job or action.")
        if not self.has_change_permission(request, job):
            raise PermissionDenied
        # The same guarded statement as the list action: a job whose state changed meanwhile
        # is left as it is, and the message says so.
        changed = handlers[action](self, request, Job.objects.filter(pk=job.pk))
        if not changed:
            state = Job.objects.filter(pk=job.pk).values_list("state", flat=True).first()
            now = JobState(state).label if state else "deleted"
            self.message_user(
                request,
                f"The job was left as it is: it is {now} now, its state changed meanwhile.",
                messages.WARNING,
            )
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:django_dbq_job_change", args=[job.pk])
        )

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Job | None = None,
    ) -> HttpResponse:
        context["dbq_buttons"] = self.buttons(request, obj) if obj is not None else []
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- actions -----------------------------------------------------------------------------

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict:
        # Django 6.1 passes action_location (and warns about overrides without it); older
        # Django does not know the argument.
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)
        # Replaced by delete_jobs, which neither lists nor loads every selected row.
        actions.pop("delete_selected", None)
        return actions
