"""PostgreSQL: one UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING."""

from __future__ import annotations

from .returning import ReturningClaimer


class PostgreSQLClaimer(ReturningClaimer):
    """Claims in one statement; concurrent workers skip rows another claim has locked."""

    skips_locked_rows = True
    lock_clause = " FOR UPDATE SKIP LOCKED"
    returning_id = "j.id"

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

    def outcome_values_sql(self, fields, count):
        # Typed, so NULLs and JSON land in their columns' types.
        pk = fields[0].model._meta.pk
        casts = [pk.db_type(self.connection), "text", *(f.db_type(self.connection) for f in fields)]
        row = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
        ops = self.connection.ops
        names = ["id", "owner", *(f.column for f in fields)]
        alias = f"v({', '.join(ops.quote_name(n) for n in names)})"
        return f"(VALUES {', '.join([row] * count)}) AS {alias}", [
            "v.id",
            "v.owner",
            *(f"v.{ops.quote_name(f.column)}" for f in fields),
        ]
