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


PARTIAL_IN_0011 = ("dbq_job_unique_active", "dbq_job_schedule_occurrence", "dbq_job_lease_idx")


def job_indexes() -> dict[str, dict]:
    """django_dbq_job's indexes and constraints by name, each with ``partial`` (bool) added."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, "django_dbq_job")
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
                ["django_dbq_job"],
            )
        elif connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE tbl_name = %s", ["django_dbq_job"]
            )
        else:
            cursor.execute("SELECT NULL, NULL FROM DUAL WHERE FALSE")
        definitions = dict(cursor.fetchall())
    for name, details in found.items():
        details["partial"] = " WHERE " in (definitions.get(name) or "")
    return found


def test_0011_makes_the_key_schedule_and_lease_indexes_partial_where_the_database_can():
    partial = connection.features.supports_partial_indexes
    indexes = job_indexes()
    for name in PARTIAL_IN_0011:
        assert indexes[name]["partial"] is partial, name
    assert indexes["dbq_job_unique_active"]["unique"]
    assert indexes["dbq_job_schedule_occurrence"]["unique"]
    try:
        migrate("0010_cheaper_notify")
        indexes = job_indexes()
        for name in PARTIAL_IN_0011:
            assert name in indexes and not indexes[name]["partial"], name
        assert indexes["dbq_job_unique_active"]["unique"]
        assert indexes["dbq_job_schedule_occurrence"]["unique"]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    indexes = job_indexes()
    for name in PARTIAL_IN_0011:
        assert indexes[name]["partial"] is partial, name


def test_mariadb_warnings_about_ignored_conditions_do_not_apply_to_job():
    # The conditions are ignored there, but migrations 0009 and 0011 keep full indexes instead.
    ids = {message.id for message in Job.check(databases=["default"])}
    assert not ids & {"models.W036", "models.W037"}
