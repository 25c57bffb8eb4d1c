"""A backend for Django's tasks framework: ``TASKS = {"default": {"BACKEND":
"django_dbq.backends.DatabaseBackend"}}`` stores ``my_task.enqueue()`` as a job that
``manage.py worker`` runs. Needs Django >= 6.0, or the django-tasks backport on older Django.

The implementation lives in django_dbq.tasks_backend; this is its public import path.
"""

from .tasks_backend.backend import DatabaseBackend, DatabaseTask
from .tasks_backend.results import TaskJSONError

__all__ = ["DatabaseBackend", "DatabaseTask", "TaskJSONError"]
