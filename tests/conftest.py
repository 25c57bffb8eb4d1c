"""Shared fixtures. Database tests use the database of DATABASE_URL (default SQLite)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clear_task_calls():
    from tests import tasks

    tasks.CALLS.clear()
    yield
    tasks.CALLS.clear()


def database_url_for_subprocesses() -> str:
    """A DATABASE_URL naming the test database that pytest-django created."""
    from django.db import connection

    s = connection.settings_dict
    engine = s["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"sqlite:///{s['NAME']}"
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[engine]
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"{scheme}://{auth}@{s['HOST'] or '127.0.0.1'}{port}/{s['NAME']}"


@pytest.fixture
def manage(transactional_db):
    """Run ``manage.py <args>`` in a subprocess against the test database; returns Popen."""
    started: list[subprocess.Popen] = []

    def start(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
        full_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "testsettings",
            "DATABASE_URL": database_url_for_subprocesses(),
            # Already the test database: do not prefix its name with "test_" again.
            **(env or {}),
        }
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


@pytest.fixture
def no_stray_worker_rows(db):
    """No WorkerProcess row but the test's own: a worker an earlier test ran on another
    connection may have left its row (its delete can lose to the test transaction's lock)."""
    from django_dbq.models import WorkerProcess

    WorkerProcess.objects.all().delete()
