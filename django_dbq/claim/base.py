"""The claimer contract: how a worker takes runnable jobs, one implementation per database."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from ..models import Job


def outcome_rows(outcomes: list, connection: Any) -> tuple[list, list[Any]]:
    """The columns a group of outcomes writes, and its flat parameters, row by row:
    (job id, lease owner, value of each column)."""
    from ..models import Job

    names = sorted({name for _, _, values in outcomes for name in values})
    fields = [Job._meta.get_field(name) for name in names]
    pk = Job._meta.pk
    params: list[Any] = []
    for job, owner, values in outcomes:
        # The outcome's own values (a snapshot taken when the step ended: the job's attributes
        # may already be changed by its next step). Every outcome names the same columns.
        params.append(pk.get_db_prep_save(job.pk, connection))
        params.append(owner)
        params.extend(
            f.get_db_prep_save(
                values[f.name] if f.name in values else getattr(job, f.attname), connection
            )
            for f in fields
        )
    return fields, params


def is_deadlock(error: Exception) -> bool:
    """Whether a database error is a deadlock or lock wait timeout, after which a retry works."""
    code = error.args[0] if error.args else None
    # 1213: deadlock, 1205: lock wait timeout (MySQL/MariaDB); 40P01: deadlock (PostgreSQL).
    return (
        code in (1213, 1205)
        or getattr(error, "pgcode", None) == "40P01"
        or ("deadlock" in str(error).lower())
    )


class Claimer:
    """Takes up to ``limit`` runnable jobs of a queue and leases them to one owner.

    A claim is atomic: every returned job was NEW or READY and runnable, is now PROCESSING with
    ``lease_owner=owner``, ``lease_expires_at=lease_until`` and ``attempts`` incremented, and no
    other claim can return it until it is released. Jobs come back in claim order (priority
    first, then oldest).
    """

    # Whether the claim is one statement (no explicit transaction round trips).
    claims_in_one_statement: bool = False
    # Whether concurrent claimers skip each other's locked rows instead of waiting.
    skips_locked_rows: bool = False

    def __init__(self, connection: BaseDatabaseWrapper):
        self.connection = connection

    def claim(
        self,
        queue_name: str,
        owner: str,
        limit: int,
        now: datetime.datetime,
        lease_until: datetime.datetime,
    ) -> list[Job]:
        """Lease and return up to ``limit`` runnable jobs of ``queue_name``."""
        raise NotImplementedError

    def write_outcomes(self, outcomes: list[tuple[Job, str, dict[str, Any]]]) -> set[Any]:
        """Write (job, lease owner, values) outcomes in one transaction; returns ids written.

        Each write is guarded: only a job still PROCESSING and leased to that owner changes.
        The values are absolute, so a retried call writes the same thing.
        """
        from django.db import transaction

        from ..models import Job, JobState

        alias = self.connection.alias
        written = set()
        with transaction.atomic(using=alias):
            for job, owner, values in outcomes:
                if (
                    Job.objects.using(alias)
                    .filter(pk=job.pk, state=JobState.PROCESSING, lease_owner=owner)
                    .update(**values)
                ):
                    written.add(job.pk)
        return written

    # Rows per INSERT statement: well under every database's limit on statement parameters.
    rows_per_insert = 500

    def insert_jobs(self, jobs: list[Job]) -> None:
        """INSERT new, validated jobs with multi-row INSERT statements."""
        from ..bulk import job_fields, rows

        ops = self.connection.ops
        fields = job_fields()
        table = ops.quote_name(fields[0].model._meta.db_table)
        columns = ", ".join(ops.quote_name(f.column) for f in fields)
        placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
        with self.connection.cursor() as cursor:
            for start in range(0, len(jobs), self.rows_per_insert):
                chunk = jobs[start : start + self.rows_per_insert]
                params = [value for row in rows(chunk, self.connection) for value in row]
                values = ", ".join([placeholders] * len(chunk))
                cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values}", params)

    def cursor(self) -> Any:
        """A cursor for the claim query (a vendor may pick one that can prepare it)."""
        return self.connection.cursor()

    def jobs_from_rows(self, rows: list[tuple]) -> list[Job]:
        """Job instances from rows of every concrete column, converted as the ORM converts."""
        from ..models import Job

        converters = self._converters()
        names = [field.attname for field in Job._meta.concrete_fields]
        alias = self.connection.alias
        jobs = []
        for row in rows:
            values = [
                value if value is None or not convert else convert(value)
                for value, convert in zip(row, converters, strict=True)
            ]
            jobs.append(Job.from_db(alias, names, values))
        return jobs

    def _converters(self) -> list:
        cached = getattr(self, "_converter_cache", None)
        if cached is None:
            from ..models import Job

            cached = []
            for field in Job._meta.concrete_fields:
                column = field.get_col(Job._meta.db_table)
                chain = [
                    *self.connection.ops.get_db_converters(column),
                    *field.get_db_converters(self.connection),
                ]
                cached.append(self._chained(chain, column) if chain else None)
            self._converter_cache = cached
        return cached

    def _chained(self, chain: list, column: Any):
        connection = self.connection

        def convert(value: Any) -> Any:
            for converter in chain:
                value = converter(value, column, connection)
            return value

        return convert

    @staticmethod
    def in_claim_order(jobs: list[Job]) -> list[Job]:
        """Sort jobs as the claim query orders them."""
        return sorted(jobs, key=lambda job: (-job.priority, job.created))
