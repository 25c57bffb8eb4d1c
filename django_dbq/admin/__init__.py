"""The django_dbq admin: jobs, schedules and the live dashboard."""

from django.contrib import admin

from ..models import Dashboard, Job, Schedule
from .dashboard_page import DashboardAdmin
from .jobs import JobAdmin
from .schedules import ScheduleAdmin

admin.site.register(Job, JobAdmin)
admin.site.register(Schedule, ScheduleAdmin)
admin.site.register(Dashboard, DashboardAdmin)

__all__ = ["DashboardAdmin", "JobAdmin", "ScheduleAdmin"]
