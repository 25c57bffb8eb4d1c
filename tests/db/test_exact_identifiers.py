"""Job names, queue names, uniqueness keys and schedule names match byte for byte everywhere.

MariaDB/MySQL compare text case-insensitively and ignore trailing spaces by default; migration
0013 gives these columns a binary NO PAD collation there, so every database agrees.
"""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from django_dbq.models import Job, Schedule
from django_dbq.testing import drain

pytestmark = pytest.mark.django_db

SPELLINGS = ["report", "Report", "report "]


@pytest.fixture
def unique_reports(settings):
    """Three unique job types whose names differ only in case or a trailing space."""
    settings.JOBS = {
        **settings.JOBS,
        **{name: {"tasks": ["tests.tasks.record"], "unique": True} for name in SPELLINGS},
    }


def test_unique_jobs_whose_names_differ_only_in_case_or_trailing_space_do_not_collide(
    unique_reports,
):
    for name in SPELLINGS:
        Job.objects.create(name=name)
    assert sorted(Job.objects.values_list("name", flat=True)) == sorted(SPELLINGS)


def test_unique_keys_that_differ_only_in_case_or_trailing_space_do_not_collide():
    for key in ["Key", "key", "key "]:
        Job.objects.create(name="unique_by_user", unique_key=key)
    assert Job.objects.filter(name="unique_by_user").count() == 3


def test_a_job_name_filter_matches_the_exact_name_only(unique_reports):
    Job.objects.create(name="Report")
    assert not Job.objects.filter(name="report").exists()
    assert not Job.objects.filter(name="Report ").exists()


def test_a_worker_claims_only_the_jobs_of_its_exact_queue():
    Job.objects.create(name="basic", queue_name="q")
    assert drain("Q") == 0
    assert drain("q ") == 0
    assert drain("q") == 1


def test_schedules_whose_names_differ_only_in_case_or_trailing_space_coexist():
    for name in ["Nightly", "nightly", "nightly "]:
        Schedule.objects.create(name=name, job_name="basic", cron="0 3 * * *")
    assert Schedule.objects.count() == 3


BYTE_EXACT = {
    "django_dbq_job": ("name", "unique_key", "queue_name"),
    "django_dbq_schedule": ("name",),
}


def column_collations() -> dict[tuple[str, str], str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name IN (%s, %s)",
            list(BYTE_EXACT),
        )
        return {(table, column): collation for table, column, collation in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_0013_sets_a_no_pad_binary_collation_on_mariadb_and_mysql_and_reverses():
    if connection.vendor != "mysql":
        pytest.skip("PostgreSQL and SQLite compare text byte for byte already")
    exact = "utf8mb4_nopad_bin" if connection.mysql_is_mariadb else "utf8mb4_0900_bin"
    matched = [(table, column) for table, columns in BYTE_EXACT.items() for column in columns]
    before = column_collations()
    assert {before[key] for key in matched} == {exact}
    assert before[("django_dbq_job", "lease_owner")] != exact
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("django_dbq", "0012_time_ordered_ids")])
        reversed_ = column_collations()
        assert all(reversed_[key] == before[("django_dbq_job", "lease_owner")] for key in matched)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert column_collations() == before
