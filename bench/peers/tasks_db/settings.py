"""Settings for benchmarking django-tasks-db (installed from PyPI in its own venv)."""

from benchlib.dbsettings import base_settings

globals().update(base_settings())

INSTALLED_APPS = ["django_tasks", "django_tasks_db"]

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
