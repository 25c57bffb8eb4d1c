"""Inserting many validated jobs at once, without the ORM's per-value overhead.

``bulk_create`` converts each of a job's ~25 values through the ORM for every row, which costs
far more than the INSERT itself. New jobs share most of their values (state NEW, no lease, no
error...), so a value that is the very object the previous job held is not converted again.
The statement itself is the database's business: claim/ picks a multi-row INSERT or, on
PostgreSQL, COPY.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from itertools import compress
from operator import attrgetter, is_not
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


def rows(jobs: list[Job], connection: Any) -> Iterator[list[Any]]:
    """Each job's column values in job_fields() order, converted for the database.

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
    read = attrgetter(*(f.attname for f in fields))  # every column of a job, in one C call
    convert = [partial(field.get_db_prep_save, connection=connection) for field in fields]
    positions = range(len(fields))
    previous: tuple = ()
    row: list[Any] = []
    for job in jobs:
        for attname in stamped:
            setattr(job, attname, now)
        values = read(job)
        if previous:
            # Most values are the very objects the previous job held (state "NEW", no lease,
            # the same timestamp...): reuse those conversions; find the others in C.
            row = row.copy()
            for i in compress(positions, map(is_not, values, previous)):
                row[i] = convert[i](values[i])
        else:
            row = [convert[i](value) for i, value in enumerate(values)]
        previous = values
        yield row
