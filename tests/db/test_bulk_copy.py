"""PostgreSQL bulk enqueue: binary COPY where every column can be sent in binary, text COPY
otherwise; both write every job's own values."""

import datetime

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from django_dbq.models import Job

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's"),
]


def copy_types():
    from django_dbq.engine import engine_for
    from django_dbq.engine.inserts import job_fields

    claimer = engine_for()
    connection.ensure_connection()
    return claimer._binary_copy_types(connection.connection, '"django_dbq_job"', job_fields())


def enqueue_and_compare():
    later = timezone.now().replace(microsecond=0) + datetime.timedelta(hours=1)
    jobs = [
        Job(
            name="unique_by_user" if i % 5 == 0 else "basic",
            queue_name=f"q{i % 3}",
            priority=-i,
            run_after=later + datetime.timedelta(seconds=i) if i % 4 == 0 else None,
            workspace={"user": i, "text": "é\t\\n\"'", "nested": [None, 1.5, True]},
        )
        for i in range(30)
    ]
    Job.objects.enqueue_many(jobs)
    stored = {job.pk: job for job in Job.objects.all()}
    assert len(stored) == 30
    for job in jobs:
        for field in Job._meta.concrete_fields:
            assert getattr(stored[job.pk], field.attname) == getattr(job, field.attname), field


@pytest.fixture
def forget_types():
    from django_dbq.engine import postgresql

    postgresql._COPY_TYPES.clear()
    yield postgresql._COPY_TYPES
    postgresql._COPY_TYPES.clear()


def test_copy_is_binary_when_every_column_type_has_a_binary_dumper(forget_types):
    types = copy_types()
    assert types is not None and all(isinstance(oid, int) and oid for oid in types)
    enqueue_and_compare()


def test_a_column_type_without_a_binary_dumper_makes_copy_text(forget_types):
    connection.ensure_connection()
    forget_types[connection.connection] = None  # as found for such a column
    assert copy_types() is None
    enqueue_and_compare()


def test_a_type_psycopg_cannot_send_in_binary_is_detected(forget_types, monkeypatch):
    from psycopg import ProgrammingError

    connection.ensure_connection()
    adapters = connection.connection.adapters

    def no_dumper(oid, format):
        raise ProgrammingError(f"cannot find a dumper for oid {oid}")

    monkeypatch.setattr(adapters, "get_dumper_by_oid", no_dumper)
    assert copy_types() is None


@override_settings(USE_TZ=False)
def test_without_time_zones_copy_is_text(forget_types):
    assert copy_types() is None
    enqueue_and_compare()
