"""Inserting many validated jobs at once, without the ORM's per-value overhead.

``bulk_create`` converts each of a job's ~25 values through the ORM for every row, which costs
far more than the INSERT itself. New jobs share most of their values (state NEW, no lease, no
error...), so each distinct value is converted once per call and reused. The statement itself is
the database's business: claim/ picks a multi-row INSERT or, on PostgreSQL, COPY.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any

from django.db import router
from django.db.models import Field
from django.utils import timezone

from .models import Job


def insert_jobs(jobs: list[Job], using: str | None = None) -> None:
    """INSERT prepared, unsaved jobs (call inside a transaction to make it all or nothing)."""
    from .claim import claimer_for

    alias = using or router.db_for_write(Job)
    claimer_for(alias).insert_jobs(jobs)
    for job in jobs:
        job._state.adding = False
        job._state.db = alias


def job_fields() -> list[Field]:
    """The columns an INSERT of a job writes, in order."""
    return [f for f in Job._meta.concrete_fields if not getattr(f, "generated", False)]


def rows(jobs: list[Job], connection: Any, prepare: bool = True) -> Iterator[list[Any]]:
    """Each job's column values, converted for the database (``prepare=False``: Python values).

    ``auto_now`` and ``auto_now_add`` columns get one timestamp for the whole call, set on each
    job as Model.save() would: the jobs are enqueued together.
    """
    fields = job_fields()
    now = timezone.now()
    stamped = [
        f.attname
        for f in fields
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    # One C-level call reads every column of a job; a single column comes back bare, not as
    # a tuple, hence the wrapper.
    read = operator.attrgetter(*(f.attname for f in fields))
    if len(fields) == 1:
        read = (lambda single: lambda job: (single(job),))(read)
    converters = [_Converter(field, connection, prepare) for field in fields]
    for job in jobs:
        for attname in stamped:
            setattr(job, attname, now)
        yield [convert(value) for convert, value in zip(converters, read(job), strict=True)]


class _Converter:
    """One column's database value, converted once per distinct Python value."""

    def __init__(self, field: Field, connection: Any, prepare: bool):
        self.convert: Callable[[Any], Any] = (
            (lambda value: field.get_db_prep_save(value, connection=connection))
            if prepare
            else (lambda value: value)
        )
        self.cache: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        try:
            return self.cache[(type(value), value)]
        except KeyError:
            converted = self.cache[(type(value), value)] = self.convert(value)
            return converted
        except TypeError:  # unhashable (a workspace dict): convert every time
            return self.convert(value)
