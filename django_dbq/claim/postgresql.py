"""PostgreSQL: one UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING."""

from __future__ import annotations

from typing import Any

from .returning import ReturningClaimer


class PostgreSQLClaimer(ReturningClaimer):
    """Claims in one statement; concurrent workers skip rows another claim has locked."""

    skips_locked_rows = True
    lock_clause = " FOR UPDATE SKIP LOCKED"

    def insert_jobs(self, jobs):
        """COPY with psycopg 3 (far cheaper than a long INSERT); INSERTs with psycopg2."""
        from ..bulk import job_fields, rows

        raw = self.connection.connection
        if raw is None:
            self.connection.ensure_connection()
            raw = self.connection.connection
        if not hasattr(raw, "pipeline"):  # psycopg2
            return super().insert_jobs(jobs)
        ops = self.connection.ops
        fields = job_fields()
        table = ops.quote_name(fields[0].model._meta.db_table)
        columns = ", ".join(ops.quote_name(f.column) for f in fields)
        with self.connection.cursor() as cursor:
            # COPY goes to the driver's own cursor: map its errors to Django's, as execute() does.
            with self.connection.wrap_database_errors:
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows(jobs, self.connection):
                        copy.write_row(row)

    def write_outcomes(self, outcomes):
        """All outcomes in one ``UPDATE ... FROM (VALUES ...) RETURNING`` statement."""
        from ..models import Job, JobState

        if not outcomes:
            return set()
        ops = self.connection.ops
        names = sorted({name for _, _, values in outcomes for name in values})
        fields = [Job._meta.get_field(name) for name in names]
        pk = Job._meta.pk
        casts = [pk.db_type(self.connection), "text", *(f.db_type(self.connection) for f in fields)]
        row = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
        params: list[Any] = []
        for job, owner, values in outcomes:
            # Every column of the group: the outcome's own values (a snapshot taken when the
            # step ended; the job's attributes may already be changed by its next step), and
            # for the columns only other outcomes set, the job's current value.
            params.append(pk.get_db_prep_save(job.pk, self.connection))
            params.append(owner)
            params.extend(
                f.get_db_prep_save(
                    values[f.name] if f.name in values else getattr(job, f.attname),
                    self.connection,
                )
                for f in fields
            )
        table = ops.quote_name(Job._meta.db_table)
        columns = ["id", "owner", *(f.column for f in fields)]
        assignments = ", ".join(
            f"{ops.quote_name(f.column)} = v.{ops.quote_name(f.column)}" for f in fields
        )
        sql = (
            f"UPDATE {table} AS j SET {assignments} "
            f"FROM (VALUES {', '.join([row] * len(outcomes))}) "
            f"AS v({', '.join(ops.quote_name(c) for c in columns)}) "
            f"WHERE j.id = v.id AND j.state = %s AND j.lease_owner = v.owner RETURNING j.id"
        )
        params.append(JobState.PROCESSING.value)
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return {row[0] for row in cursor.fetchall()}
