"""Bulk actions on jobs; each calls a guarded JobQuerySet method, safe beside running workers."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from .. import pauses
from ..conf import settings as conf
from ..models import ACTIVE_STATES, Job
from .listing import COUNT_LIMIT, AtLeast

logger = logging.getLogger(__name__)


@admin.action(
    description="Retry selected jobs from the step they stopped at", permissions=["change"]
)
def retry_jobs(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> int:
    """Retry the FAILED and CANCELLED jobs selected, report unique jobs whose key is taken;
    returns how many were retried."""
    duplicates: list[Job] = []
    retried = queryset.order_by().retry(duplicates)
    _log(request, "retry", retried)
    modeladmin.message_user(
        request, f"Retried {retried} job(s); only FAILED and CANCELLED jobs are retried."
    )
    if duplicates:
        ids = ", ".join(str(job.pk) for job in duplicates[:10])
        more = f" and {len(duplicates) - 10} more" if len(duplicates) > 10 else ""
        modeladmin.message_user(
            request,
            f"{len(duplicates)} unique job(s) were not retried because an active job with "
            f"the same key is waiting or running: {ids}{more}.",
            messages.WARNING,
        )
    return retried


@admin.action(description="Cancel selected jobs", permissions=["change"])
def cancel_jobs(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> int:
    """Cancel the waiting jobs selected, stop running ones after their step; returns how many."""
    cancelled = queryset.order_by().cancel()
    _log(request, "cancel", cancelled)
    modeladmin.message_user(
        request,
        f"Cancelled {cancelled} job(s). A running job is STOPPING until its current step "
        "ends, then CANCELLED; finished jobs are left as they are.",
    )
    return cancelled


@admin.action(description="Pause the queues of selected jobs", permissions=["change"])
def pause_queues(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> int:
    """Pause every queue a selected job is in (running steps finish); returns how many were
    paused now. Resume them on the paused queues' page or with `manage.py queue resume`."""
    names = sorted(set(queryset.order_by().values_list("queue_name", flat=True).distinct()))
    by = f"admin:{request.user.get_username()}" if hasattr(request.user, "get_username") else ""
    paused = [name for name in names if pauses.pause(name, by=by)]
    _log(request, "pause_queues", len(paused))
    modeladmin.message_user(
        request,
        f"Paused {len(paused)} queue(s): {', '.join(paused) or 'none'}"
        + (
            f"; already paused: {', '.join(sorted(set(names) - set(paused)))}"
            if len(paused) < len(names)
            else ""
        )
        + ". Running steps finish; no new job of these queues starts until resumed.",
    )
    return len(paused)


@admin.action(description="Run selected jobs now (clear run after)", permissions=["change"])
def run_now(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> int:
    """Clear run_after of the waiting jobs selected; returns how many."""
    changed = queryset.order_by().run_now()
    _log(request, "run_now", changed)
    modeladmin.message_user(
        request, f"{changed} waiting job(s) will run as soon as a worker is free."
    )
    return changed


@admin.action(description="Delete selected jobs", permissions=["delete"])
def delete_jobs(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    """Delete after a confirmation page; in batches, without loading the rows."""
    if request.POST.get("post") == "yes":
        deleted = delete_in_batches(queryset)
        _log(request, "delete", deleted)
        modeladmin.message_user(request, f"Deleted {deleted} job(s).")
        return None
    counted = queryset.order_by()[: COUNT_LIMIT + 1].count()
    select_across = request.POST.get("select_across") == "1"
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Delete jobs?",
        "opts": modeladmin.model._meta,
        "count": AtLeast(counted) if counted > COUNT_LIMIT else counted,
        "running": queryset.order_by().filter(state__in=ACTIVE_STATES).exists(),
        "select_across": select_across,
        "selected": [] if select_across else request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "media": modeladmin.media,
    }
    return TemplateResponse(request, "admin/django_dbq/job/delete_jobs_confirmation.html", context)


def _log(request: HttpRequest, action: str, count: int) -> None:
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
