"""Commands run before `manage.py migrate` stop at once with the fix, not a traceback or retries."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from django_dbq.worker_rows import WorkerProcess

pytestmark = pytest.mark.django_db


@pytest.fixture
def unmigrated(monkeypatch):
    """The database as before `migrate`: django_dbq's tables are not there."""
    monkeypatch.setattr(type(connection.introspection), "table_names", lambda self, cursor: [])


@pytest.mark.parametrize(
    "command",
    [
        ["worker", "--burst"],
        ["create_job", "basic"],
        ["queue_status"],
        ["schedules", "list"],
    ],
)
def test_a_command_before_migrate_says_to_run_migrate(unmigrated, command):
    with pytest.raises(CommandError, match=r"has no table django_dbq_job.*run `manage.py migrate`"):
        call_command(*command)


def test_commands_after_migrate_find_their_tables():
    call_command("queue_status")


@pytest.mark.parametrize("command", [["queue_status"], ["queue_status", "--check"]])
def test_a_database_without_the_worker_process_table_says_to_run_migrate(monkeypatch, command):
    """A database migrated up to 0014 has jobs and schedules but no worker process rows."""
    table_names = type(connection.introspection).table_names
    monkeypatch.setattr(
        type(connection.introspection),
        "table_names",
        lambda self, cursor: [
            name for name in table_names(self, cursor) if name != WorkerProcess._meta.db_table
        ],
    )
    with pytest.raises(
        CommandError, match=r"has no table django_dbq_workerprocess.*run `manage.py migrate`"
    ):
        call_command(*command)
