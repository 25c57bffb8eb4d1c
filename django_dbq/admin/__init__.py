"""The django_dbq admin: jobs (and schedules, when the Schedule model exists)."""

from django.contrib import admin

from ..models import Job
from .jobs import JobAdmin

admin.site.register(Job, JobAdmin)

__all__ = ["JobAdmin"]
