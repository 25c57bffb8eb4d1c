"""Settings for running django-db-queue 3.3.0's own tests.py against this package.

Copied into the scratch folder by run.py. DATABASE_URL picks the database (default SQLite).
"""

import os

import dj_database_url

SECRET_KEY = "django_dbq-3.3-tests-only"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_dbq"]
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL")
        or "sqlite:///" + os.path.join(os.path.dirname(os.path.abspath(__file__)), "db.sqlite3")
    )
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # Beside the project's own test database, never on top of it.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_dbq33"}
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"]["OPTIONS"] = {"charset": "utf8mb4"}
    DATABASES["default"]["TEST"]["CHARSET"] = "utf8mb4"
JOBS: dict = {}  # each 3.x test case declares its own with override_settings
TEST_RUNNER = "dbq33_runner.Runner"
