"""Paused queues in the admin: add a row to pause a queue (or a job name), resume to delete it."""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .. import pauses
from ..models import QueuePause

logger = logging.getLogger(__name__)


class PauseForm(forms.ModelForm):
    """Queue name (required), job name (blank: the whole queue) and a reason."""

    class Meta:
        model = QueuePause
        fields = ("queue_name", "job_name", "reason")
        help_texts = {
            "job_name": "Blank pauses every job of the queue; a name pauses that job's jobs only.",
            "reason": "Shown here and by `manage.py queue list`.",
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            pauses.validate(data.get("queue_name", ""), data.get("job_name", ""))
        except pauses.PauseError as error:
            raise forms.ValidationError(str(error)) from None
        return data


@admin.action(description="Resume selected queues", permissions=["delete"])
def resume_queues(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> int:
    """Resume each selected pause (waking the queue's workers on PostgreSQL); returns how many."""
    resumed = sum(pauses.resume(row.queue_name, row.job_name) for row in queryset)
    logger.info("event=admin_resume count=%s user=%s", resumed, request.user)
    modeladmin.message_user(request, f"Resumed {resumed} paused queue(s) or job name(s).")
    return resumed


class QueuePauseAdmin(admin.ModelAdmin):
    """The paused queues: "Add" pauses, "Resume selected queues" resumes."""

    form = PauseForm
    list_display = ("queue_name", "jobs", "paused_at", "paused_by", "reason")
    list_display_links = None
    actions = (resume_queues,)
    sortable_by = ()

    @admin.display(description="jobs")
    def jobs(self, row: QueuePause) -> str:
        return row.job_name or "all jobs"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A pause is added or resumed, never edited.
        return False

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict:
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location=action_location)
        # Resuming (which also wakes workers) replaces deleting.
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request: HttpRequest, obj: QueuePause) -> None:
        """Deleting a pause (its page's Delete link) resumes it, waking the workers too."""
        pauses.resume(obj.queue_name, obj.job_name)

    def save_model(self, request: HttpRequest, obj: QueuePause, form: Any, change: bool) -> None:
        """Pause through pauses.pause(), recording who paused it."""
        by = str(getattr(request.user, "get_username", lambda: "")() or "")
        if not pauses.pause(obj.queue_name, obj.job_name, by=f"admin:{by}", reason=obj.reason):
            self.message_user(
                request,
                f"{pauses.describe(obj.queue_name, obj.job_name)} was paused already.",
                messages.WARNING,
            )
        saved = QueuePause.objects.filter(queue_name=obj.queue_name, job_name=obj.job_name)
        obj.pk = saved.values_list("pk", flat=True).first()
