"""The django_dbq admin: jobs and schedules."""

from django.contrib import admin

from ..models import Job, Schedule
from .jobs import JobAdmin
from .schedules import ScheduleAdmin

admin.site.register(Job, JobAdmin)
admin.site.register(Schedule, ScheduleAdmin)

__all__ = ["JobAdmin", "ScheduleAdmin"]
