"""A database created by django-db-queue 3.3 upgrades in place, keeping its jobs."""

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from django_dbq.models import Job, JobState

pytestmark = pytest.mark.django_db(transaction=True)

OLD_MIGRATIONS = [
    "0001_initial",
    "0002_auto_20151016_1027",
    "0003_auto_20180713_1000",
    "0004_auto_20210818_0247",
    "0005_job_run_after",
    "0006_alter_job_state",
]
SQUASH = "0001_squashed_0006_alter_job_state"


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([("django_dbq", target)] if target else [("django_dbq", None)])


@pytest.fixture
def database_of_django_db_queue_3():
    """The 3.3 schema with 3.3's six migrations recorded, as django-db-queue 3.3 leaves it."""
    migrate(None)
    migrate(SQUASH)
    if connection.vendor == "mysql" and connection.features.has_native_uuid_field:
        # Django < 5 (which django-db-queue 3.3 ran on) stored UUIDs as char(32) on MariaDB.
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE django_dbq_job MODIFY id char(32) NOT NULL")
    recorder = MigrationRecorder(connection)
    recorder.record_unapplied("django_dbq", SQUASH)
    for name in OLD_MIGRATIONS:
        recorder.record_applied("django_dbq", name)
    yield
    migrate(None)
    MigrationRecorder(connection).migration_qs.filter(app="django_dbq").delete()
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def insert_3x_job(
    state, next_task="tests.tasks.add_one", workspace='{"count": 1}', name="three_steps"
):
    job_id = uuid.uuid4()
    value = job_id if connection.vendor == "postgresql" else job_id.hex
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_dbq_job (id, created, modified, name, state, next_task, workspace,"
            " queue_name, priority) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                value,
                "2024-01-01 00:00:00",
                "2024-01-01 00:00:00",
                name,
                state,
                next_task,
                workspace,
                "default",
                0,
            ],
        )
    return job_id


def test_3x_database_upgrades_and_keeps_its_jobs(database_of_django_db_queue_3):
    done = insert_3x_job("COMPLETE", next_task="")
    interrupted = insert_3x_job("STOPPING")
    waiting = insert_3x_job("READY")
    from django.core.management import call_command

    call_command("migrate", "django_dbq", verbosity=0)

    assert Job.objects.get(pk=done).state == JobState.COMPLETED
    assert Job.objects.get(pk=interrupted).state == JobState.READY
    job = Job.objects.get(pk=waiting)
    assert (job.state, job.workspace, job.next_task) == (
        JobState.READY,
        {"count": 1},
        "tests.tasks.add_one",
    )
    recorded = set(MigrationRecorder(connection).applied_migrations())
    assert ("django_dbq", SQUASH) in recorded


def test_upgraded_job_resumes_at_the_step_its_3x_row_names(database_of_django_db_queue_3):
    # A 3.x row half-way through its pipeline knows only next_task, here step 2 of 3.
    job_id = insert_3x_job(
        "READY",
        next_task="tests.tasks.mark_step_b",
        workspace='{"steps": ["a"]}',
        name="process_pipeline",
    )
    from django.core.management import call_command

    call_command("migrate", "django_dbq", verbosity=0)
    from django_dbq.testing import drain

    assert drain() == 2
    job = Job.objects.get(pk=job_id)
    assert job.state == JobState.COMPLETED and job.workspace == {"steps": ["a", "b", "c"]}


def test_0010_replaces_the_notify_function_and_restores_it_when_unapplied():
    if connection.vendor != "postgresql":
        pytest.skip("the wake-up trigger is PostgreSQL's")

    def function_body() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_functiondef('django_dbq_notify'::regproc)")
            return cursor.fetchone()[0]

    assert "SELECT DISTINCT" not in function_body()
    try:
        migrate("0009_waiting_index")
        assert "SELECT DISTINCT" in function_body()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert "SELECT DISTINCT" not in function_body()
