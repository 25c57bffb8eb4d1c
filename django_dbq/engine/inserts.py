"""Inserting validated jobs, one or many at once, without the ORM's per-field overhead.

Model.save() compiles its INSERT field by field for every job, and ``bulk_create`` converts
each of a job's ~25 values through the ORM for every row; both cost more than the INSERT
itself. One job is inserted with a statement made once; many share most of their values (state
NEW, no lease, no error...), so a value that is the very object the previous job held is not
converted again. The statement itself is the database's business: engine/ picks a multi-row
INSERT or, on PostgreSQL, COPY.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from itertools import compress
from operator import attrgetter, is_not
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Field
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from ..models import Job
from . import engine_for


def insert_jobs(jobs: list[Job], using: str | None = None) -> None:
    """INSERT prepared, unsaved jobs (call inside a transaction to make it all or nothing)."""
    alias = using or router.db_for_write(Job)
    engine_for(alias).insert_jobs(jobs)
    for job in jobs:
        job._state.adding = False
        job._state.db = alias


def insert_new_job(job: Job, using: str | None = None) -> None:
    """INSERT one prepared, unsaved job as Model.save() does, with one statement made once.

    What save() does for a new row of this model is kept: unsaved related objects are refused,
    ``pre_save`` and ``post_save`` (``created=True``) are sent, auto_now fields are stamped,
    values are converted by their fields, and a failed INSERT inside atomic() marks the
    transaction for rollback.
    """
    model = type(job)
    alias = using or router.db_for_write(model, instance=job)
    job._prepare_related_fields_for_save(operation_name="save")
    pre_save.send(sender=model, instance=job, raw=False, using=alias, update_fields=None)
    connection = connections[alias]
    sql = _INSERT_SQL.get(connection.vendor)
    if sql is None:
        ops = connection.ops
        fields = job_fields()
        sql = _INSERT_SQL[connection.vendor] = (
            f"INSERT INTO {ops.quote_name(Job._meta.db_table)} "
            f"({', '.join(ops.quote_name(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
    (row,) = rows([job], connection)
    with transaction.mark_for_rollback_on_error(alias):
        with connection.cursor() as cursor:
            cursor.execute(sql, row)
    job._state.adding = False
    job._state.db = alias
    post_save.send(
        sender=model, instance=job, created=True, update_fields=None, raw=False, using=alias
    )


# The single-row INSERT of insert_new_job(), per database vendor (only quoting differs).
_INSERT_SQL: dict[str, str] = {}


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
