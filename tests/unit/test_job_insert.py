"""Which path inserts a new job: the prepared INSERT, or Django's own save()."""

import pytest
from django.db import models

from django_dbq.models import Job


@pytest.fixture
def djangos_save(monkeypatch):
    calls = []
    monkeypatch.setattr(models.Model, "save", lambda self, *args, **kwargs: calls.append(kwargs))
    return calls


@pytest.fixture
def prepared_insert(monkeypatch):
    calls = []
    monkeypatch.setattr("django_dbq.models.insert_new_job", lambda job, using: calls.append(using))
    return calls


def test_a_plain_new_job_takes_the_prepared_insert(djangos_save, prepared_insert):
    Job(name="basic")._insert(force_insert=True, using="default")
    assert (prepared_insert, djangos_save) == (["default"], [])


@pytest.mark.parametrize("kwargs", [{"update_fields": ["priority"]}, {"force_update": True}])
def test_unusual_arguments_go_to_djangos_save(djangos_save, prepared_insert, kwargs):
    Job(name="basic")._insert(**kwargs)
    assert (prepared_insert, djangos_save) == ([], [kwargs])


def test_a_subclass_with_a_table_of_its_own_goes_to_djangos_save(
    djangos_save, prepared_insert, monkeypatch
):
    # Multi-table inheritance: Django inserts the parent row and the child's; the prepared
    # INSERT knows only Job's table.
    monkeypatch.setattr(Job._meta, "concrete_model", object)
    Job(name="basic")._insert(using="default")
    assert (prepared_insert, djangos_save) == ([], [{"using": "default"}])
