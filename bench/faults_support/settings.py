"""Django settings of the fault-injection run; the conductor passes everything by environment.

DBQ_FAULTS_DATABASE_URL    the database (PostgreSQL, MariaDB/MySQL or SQLite)
DBQ_FAULTS_ROLE            "conductor" or "worker": names the connection on PostgreSQL, so the
                           conductor can terminate the workers' connections and only theirs
DBQ_FAULTS_LEASE_SECONDS   DBQ_LEASE_SECONDS (short, so rescues happen within the run)
DBQ_FAULTS_MAX_RESCUES     DBQ_MAX_RESCUES
DBQ_FAULTS_STEP_SECONDS    each step sleeps up to this long, so kills find steps in flight
DBQ_FAULTS_EXECUTIONS_DIR  where steps log when each run starts and ends (executions.py)
DBQ_FAULTS_SAVE_IN_STEP    "1": atomic steps call job.save() first, locking their job's row
"""

import os

import dj_database_url

SECRET_KEY = "django_dbq-fault-injection-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

ROLE = os.environ.get("DBQ_FAULTS_ROLE", "conductor")
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DBQ_FAULTS_DATABASE_URL", "sqlite:////tmp/dbq_faults_run.sqlite3"),
        conn_max_age=None,
    )
}
_ENGINE = DATABASES["default"]["ENGINE"]
if _ENGINE == "django.db.backends.postgresql":
    DATABASES["default"]["OPTIONS"] = {"application_name": f"dbq_faults_{ROLE}"}
elif _ENGINE == "django.db.backends.mysql":
    DATABASES["default"]["OPTIONS"] = {"charset": "utf8mb4"}
elif _ENGINE == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"timeout": 60}

INSTALLED_APPS = ["django_dbq", "faults_support"]

QUEUE = "faults"
JOBS = {
    "chaos_plain": {
        "tasks": [
            "faults_support.tasks.step_a",
            "faults_support.tasks.step_b",
            "faults_support.tasks.step_c",
        ],
    },
    "chaos_atomic": {
        "tasks": [
            "faults_support.tasks.step_a",
            "faults_support.tasks.step_b",
            "faults_support.tasks.step_c",
        ],
        "atomic": True,
    },
}

DBQ_LEASE_SECONDS = float(os.environ.get("DBQ_FAULTS_LEASE_SECONDS", 2))
DBQ_MAX_RESCUES = int(os.environ.get("DBQ_FAULTS_MAX_RESCUES", 10))
DBQ_POLL_INTERVAL = 0.05
DBQ_FAULTS_STEP_SECONDS = float(os.environ.get("DBQ_FAULTS_STEP_SECONDS", 0.01))
DBQ_FAULTS_EXECUTIONS_DIR = os.environ.get("DBQ_FAULTS_EXECUTIONS_DIR", "")
DBQ_FAULTS_SAVE_IN_STEP = os.environ.get("DBQ_FAULTS_SAVE_IN_STEP") == "1"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(process)d %(levelname)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django_dbq": {
            "handlers": ["console"],
            "level": os.environ.get("DBQ_LOG_LEVEL", "WARNING"),
        }
    },
}
