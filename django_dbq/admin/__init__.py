"""The django_dbq admin: jobs, schedules, paused queues and the live dashboard."""

from django.contrib import admin

from ..models import Dashboard, Job, QueuePause, Schedule
from .dashboard_page import DashboardAdmin
from .jobs import JobAdmin
from .pauses import QueuePauseAdmin
from .schedules import ScheduleAdmin

admin.site.register(Job, JobAdmin)
admin.site.register(Schedule, ScheduleAdmin)
admin.site.register(Dashboard, DashboardAdmin)
admin.site.register(QueuePause, QueuePauseAdmin)

__all__ = ["DashboardAdmin", "JobAdmin", "QueuePauseAdmin", "ScheduleAdmin"]
