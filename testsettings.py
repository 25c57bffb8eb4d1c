"""Settings for django_dbq's own test suite. DATABASE_URL selects the database (default SQLite)."""

import importlib.util
import os

import dj_database_url
import django

SECRET_KEY = "django_dbq-tests-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get(
            "DATABASE_URL", "sqlite:///" + os.path.join(os.path.dirname(__file__), "test.sqlite3")
        ),
        conn_max_age=None,
    )
}
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("DBQ_TEST_DATABASE_NAME")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, beside the main one: worker subprocesses in the process tests share it.
    folder, filename = os.path.split(DATABASES["default"]["NAME"])
    DATABASES["default"]["TEST"]["NAME"] = DATABASES["default"]["TEST"]["NAME"] or os.path.join(
        folder, "test_" + filename
    )
    DATABASES["default"]["OPTIONS"] = {"timeout": 30}
    if django.VERSION >= (5, 1):
        # What docs/deploying.md recommends for several worker processes on one SQLite file.
        DATABASES["default"]["OPTIONS"].update(
            transaction_mode="IMMEDIATE",
            init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        )
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"]["OPTIONS"] = {"charset": "utf8mb4"}
    DATABASES["default"]["TEST"]["CHARSET"] = "utf8mb4"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # The browser test's live server serves the admin's and django_dbq's static files.
    "django.contrib.staticfiles",
    "django_dbq",
    "tests",
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
ROOT_URLCONF = "tests.urls"
STATIC_URL = "static/"

JOBS = {
    "basic": ["tests.tasks.record"],
    "three_steps": {
        "tasks": ["tests.tasks.add_one", "tests.tasks.add_one", "tests.tasks.add_one"],
    },
    "failing": {"tasks": ["tests.tasks.fail"], "failure_hook": "tests.tasks.on_failure"},
    "hooked": {
        "tasks": ["tests.tasks.record", "tests.tasks.record"],
        "creation_hook": "tests.tasks.on_create",
        "pre_task_hook": "tests.tasks.pre_hook",
        "post_task_hook": "tests.tasks.post_hook",
        "failure_hook": "tests.tasks.on_failure",
    },
    "schema": {
        "tasks": ["tests.tasks.record"],
        "workspace_schema": {
            "type": "object",
            "properties": {"url": {"type": "string"}, "count": {"type": "integer", "minimum": 0}},
            "required": ["url"],
        },
    },
    "retrying": {"tasks": ["tests.tasks.fail_until"], "retries": 2, "retry_backoff": 0.01},
    "slow": {"tasks": ["tests.tasks.sleep"], "timeout": 0.5},
    "atomic": {"tasks": ["tests.tasks.write_marker", "tests.tasks.fail"], "atomic": True},
    "unique_by_user": {"tasks": ["tests.tasks.record"], "unique": ["user"]},
    "process_pipeline": {
        "tasks": ["tests.tasks.mark_step_a", "tests.tasks.mark_step_b", "tests.tasks.mark_step_c"],
    },
    "process_slow": {"tasks": ["tests.tasks.slow_mark_step_a", "tests.tasks.mark_step_b"]},
    "io_wait": {"tasks": ["tests.tasks.note_thread_and_wait"]},
    "saves_itself": ["tests.tasks.save_mid_step", "tests.tasks.record"],
    "cancelled_then_saved": ["tests.tasks.cancel_then_save", "tests.tasks.record"],
    "busy_with_timeout": {"tasks": ["tests.tasks.busy_until_stopped"], "timeout": 0.3},
    "process_atomic_save": {"tasks": ["tests.tasks.save_and_hold"], "atomic": True},
    "process_long": ["tests.tasks.record_start_and_end"],
    "leaves_nan": ["tests.tasks.leave_nan", "tests.tasks.record"],
    "leaves_nul": ["tests.tasks.leave_nul"],
    "leaves_int_key": ["tests.tasks.leave_int_key"],
    "checkpoints": {"tasks": ["tests.tasks.save_then_fail"], "retries": 1, "retry_backoff": 0.01},
    "checkpoints_atomic": {
        "tasks": ["tests.tasks.save_then_fail"],
        "retries": 1,
        "retry_backoff": 0.01,
        "atomic": True,
    },
    "deletes_itself": ["tests.tasks.delete_own_job", "tests.tasks.record"],
    "cancels_the_others": ["tests.tasks.cancel_the_others"],
    "cancels_the_others_elsewhere": ["tests.tasks.cancel_the_others_elsewhere"],
    "slow_then_more": ["tests.tasks.sleep_then_cancel_self", "tests.tasks.record"],
    "taken_over": {"tasks": ["tests.tasks.taken_over_then_fail"], "retries": 2},
    "fast_chain": ["tests.tasks.short_step_cancelled_at_step_2"] * 10,
    "exits_in_post_hook": {
        "tasks": ["tests.tasks.record", "tests.tasks.record"],
        "post_task_hook": "tests.tasks.exit_in_hook",
    },
    "progress": ["tests.tasks.count_with_progress", "tests.tasks.record"],
    "progress_fast": ["tests.tasks.report_too_fast"],
    "cancellable": ["tests.tasks.wait_for_cancel", "tests.tasks.record"],
    "atomic_cancelled": {
        "tasks": ["tests.tasks.write_marker_then_cancel", "tests.tasks.record"],
        "atomic": True,
    },
}
# The shutdown process tests give their workers a short lease, to see rescues within seconds.
DBQ_LEASE_SECONDS = float(os.environ.get("DBQ_LEASE_SECONDS", 30))

# Django's tasks framework (django.tasks on Django >= 6.0, else the django-tasks backport) runs
# on django_dbq's backend; tests/db/test_backends.py skips when neither is installed.
TASKS = {
    "default": {
        "BACKEND": "django_dbq.backends.DatabaseBackend",
        "QUEUES": ["default", "emails"],
        # The tests' tasks live outside the tests app's tasks module (which holds JOBS tasks).
        "OPTIONS": {"task_modules": ["tests.framework_tasks"]},
    }
}
if django.VERSION < (6, 0) and importlib.util.find_spec("django_tasks"):
    # The backport's app registers its system checks (and so our backend's check()).
    INSTALLED_APPS.append("django_tasks")

# DBQ_TEST_LOGGING=none: a project without LOGGING (the worker's own console lines are tested).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_dbq": {"handlers": ["console"], "level": os.environ.get("DBQ_LOG_LEVEL", "WARNING")}
    },
}
if os.environ.get("DBQ_TEST_LOGGING") == "none":
    del LOGGING
