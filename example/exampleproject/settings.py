"""A minimal Django project using django_dbq on SQLite."""

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "example-only-not-secret"
DEBUG = True
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "exampleproject.urls"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_dbq",
    "cats",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DBQ_EXAMPLE_DB", BASE_DIR / "db.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}
if django.VERSION >= (5, 1):
    # Several processes (the demo and its worker) write to the file: WAL and immediate
    # transactions avoid "database is locked" errors.
    DATABASES["default"]["OPTIONS"].update(
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )

# The job pipelines: each job name maps to its ordered task functions (plus options).
JOBS = {
    "import_cat": {
        "tasks": ["cats.jobs.fetch", "cats.jobs.resize", "cats.jobs.store"],
        "workspace_schema": {
            "type": "object",
            "properties": {"cat": {"type": "string", "minLength": 1}},
            "required": ["cat"],
        },
        "failure_hook": "cats.jobs.report_failure",
        "retries": 2,
        "retry_backoff": 0.5,
    },
}

DBQ_POLL_INTERVAL = 0.1

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_dbq": {"handlers": ["console"], "level": "WARNING"}},
}
