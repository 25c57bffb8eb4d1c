"""The dashboard's admin page: listed on the admin index, at admin/django_dbq/dashboard/."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from ..models import Job
from .dashboard import dashboard_data
from .listing import humanize_seconds, short_datetime


class DashboardAdmin(admin.ModelAdmin):
    """No list nor form: one read-only page, for users who may view jobs."""

    class Media:
        css = {"all": ("django_dbq/admin.css",)}
        js = ("django_dbq/dashboard.js",)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "",
                self.admin_site.admin_view(self.changelist_view),
                name="django_dbq_dashboard_changelist",
            )
        ]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        opts = Job._meta
        return request.user.has_perm(f"{opts.app_label}.view_job") or request.user.has_perm(
            f"{opts.app_label}.change_job"
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        data = dashboard_data()
        # Ages and expiries as people read them ("4m 12s"), dates in the lists' one format.
        for stats in data["queues"]:
            seconds = stats.oldest_waiting_seconds
            stats.oldest_waiting = humanize_seconds(seconds) if seconds is not None else None
        for worker in data["workers"]:
            worker.expires_in = None
            if worker.lease_expires_at is not None:
                left = (worker.lease_expires_at - data["now"]).total_seconds()
                worker.expires_in = f"in {humanize_seconds(max(left, 0.0))}"
            worker.seen_ago = None
            if worker.last_seen is not None:
                ago = (data["now"] - worker.last_seen).total_seconds()
                worker.seen_ago = f"{humanize_seconds(max(ago, 0.0))} ago"
        for failure in data["failures"]:
            failure["failed_at"] = short_datetime(failure["finished_at"])
        context = {
            **self.admin_site.each_context(request),
            **data,
            "title": "Job queue dashboard",
            "opts": self.model._meta,
            "jobs_url": reverse(f"{self.admin_site.name}:django_dbq_job_changelist"),
            "media": self.media,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/django_dbq/dashboard/dashboard.html", context)
