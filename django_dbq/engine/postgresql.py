"""PostgreSQL: one UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING."""

from __future__ import annotations

import hashlib
import logging
import weakref

from django.conf import settings
from django.db import DatabaseError

from .base import not_paused_sql
from .keyed import KeyedClaim
from .returning import LEASED_SQL, WAITING_SQL, ReturningEngine

logger = logging.getLogger(__name__)

# The first key of the keyed claim's advisory locks (two-key form: the second is the hash of a
# concurrency key), so they never meet another application's single-key advisory locks.
ADVISORY_LOCK_SPACE = 0x64627131  # "dbq1"

# Column types for binary COPY per driver connection (a reconnection reads them again).
_COPY_TYPES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

# The claim's values, in the order of the prepared statement's parameters ($1, $2, ...).
PREPARED_PARAMETERS = {
    "state": "text",
    "owner": "text",
    "lease_until": "timestamptz",
    "now": "timestamptz",
    "queue": "text",
}


def _is_prepared_statement_error(error: DatabaseError) -> bool:
    cause = error.__cause__
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    # 26000 invalid_sql_statement_name: the session lost it (a pooler in transaction mode
    # runs each statement on whichever server connection is free).
    return code == "26000"


class PostgreSQLEngine(KeyedClaim, ReturningEngine):
    """Claims in one statement; concurrent workers skip rows another claim has locked."""

    def waiting_keys(self, jobs, waiting, queue_name, now):
        """A skip scan of the waiting keyed jobs' index: one index descent per key (its first
        job in claim order), with the key's running steps, in one statement."""
        from ..models import Job  # models imports this package (through inserts)

        table = self.connection.ops.quote_name(Job._meta.db_table)
        first = (
            f"SELECT w.concurrency_key AS k, w.name, w.priority, w.created FROM {table} w "
            f"WHERE w.queue_name = %s AND w.{WAITING_SQL} AND w.concurrency_key {{after}} "
            "AND (w.run_after IS NULL OR w.run_after <= %s) "
            "ORDER BY w.concurrency_key, w.priority DESC, w.created LIMIT 1"
        )
        sql = (
            f"WITH RECURSIVE keys AS (({first.format(after='IS NOT NULL')}) UNION ALL "
            f"SELECT n.* FROM keys CROSS JOIN LATERAL ({first.format(after='> keys.k')}) n) "
            # The running steps of keyed jobs, counted once (there are at most as many as the
            # workers' batches hold), not once per key.
            f", running AS (SELECT concurrency_key AS k, COUNT(*) AS n FROM {table} "
            f"WHERE {LEASED_SQL} AND concurrency_key IS NOT NULL GROUP BY concurrency_key) "
            "SELECT keys.k, keys.name, COALESCE(running.n, 0) FROM keys "
            "LEFT JOIN running ON running.k = keys.k ORDER BY keys.priority DESC, keys.created"
        )
        at = self.connection.ops.adapt_datetimefield_value(now)
        with self.connection.cursor() as cursor:
            cursor.execute(sql, [queue_name, at, queue_name, at])
            return [tuple(row) for row in cursor.fetchall()]

    def lock_waiting(self, waiting, queue_name, wants, limit, now):
        """One statement: per (key, n), the first n waiting jobs of the key, SKIP LOCKED."""
        from ..models import Job  # models imports this package (through inserts)

        ops = self.connection.ops
        table = ops.quote_name(Job._meta.db_table)
        columns = ", ".join(f"j.{ops.quote_name(f.column)}" for f in Job._meta.concrete_fields)
        sql = (
            f"SELECT {columns} FROM unnest(%s::text[], %s::int[]) WITH ORDINALITY AS r(k, n, i) "
            f"CROSS JOIN LATERAL (SELECT * FROM {table} w WHERE w.queue_name = %s "
            f"AND w.{WAITING_SQL} AND w.concurrency_key = r.k "
            "AND (w.run_after IS NULL OR w.run_after <= %s) "
            f"AND {not_paused_sql(ops, '%s', row='w')} "
            "ORDER BY w.priority DESC, w.created LIMIT r.n FOR UPDATE SKIP LOCKED) AS j "
            "ORDER BY r.i, j.priority DESC, j.created"
        )
        params = [
            [key for key, _ in wants],
            [wanted for _, wanted in wants],
            queue_name,
            ops.adapt_datetimefield_value(now),
            queue_name,
            queue_name,
        ]
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            # Rows past the limit stay locked, unchanged, until the claim commits.
            return self.jobs_from_rows(cursor.fetchall()[:limit])

    def try_locks(self, names, wanted=None):
        """Transaction-level advisory locks on the hashes of ``names``, without waiting (two
        names with the same 32-bit hash share a lock: claims of them take turns, never more)."""
        limit = f" LIMIT {int(wanted)}" if wanted else ""
        with self.connection.cursor() as cursor:
            # Evaluated row by row until the LIMIT is reached.
            cursor.execute(
                "SELECT k FROM unnest(%s::text[]) WITH ORDINALITY AS t(k, i) "
                f"WHERE pg_try_advisory_xact_lock({ADVISORY_LOCK_SPACE}, hashtext(k)){limit}",
                [list(names)],
            )
            return {row[0] for row in cursor.fetchall()}

    lock_clause = " FOR UPDATE SKIP LOCKED"
    returning_id = "j.id"

    # Whether claims run as a prepared statement (SQL PREPARE / EXECUTE, so with any driver
    # and through Django's cursors): PostgreSQL then plans the claim once per connection,
    # which halves its cost. Turned off for good if a pooler loses prepared statements.
    prepares_claims = True

    def claim(self, queue_name, owner, limit, now, lease_until, unkeyed=False):
        try:
            return super().claim(queue_name, owner, limit, now, lease_until, unkeyed)
        except DatabaseError as error:
            if not (self.prepares_claims and _is_prepared_statement_error(error)):
                raise
            logger.warning(
                "event=prepared_claim_lost alias=%s error=%r (claims are no longer prepared)",
                self.connection.alias,
                error,
            )
            self.prepares_claims = False
            if self.connection.in_atomic_block:
                raise  # the caller's transaction is aborted; its next claim is not prepared
            return super().claim(queue_name, owner, limit, now, lease_until, unkeyed)

    def claim_statement(self, limit, values, unkeyed=False):
        if not self.prepares_claims:
            return super().claim_statement(limit, values, unkeyed)
        name = self._prepared_claim(limit, unkeyed)
        placeholders = ", ".join(["%s"] * len(PREPARED_PARAMETERS))
        return f"EXECUTE {name} ({placeholders})", [values[key] for key in PREPARED_PARAMETERS]

    def _prepared_claim(self, limit: int, unkeyed: bool = False) -> str:
        """The name of the claim statement for ``limit``, prepared on this connection."""
        self.connection.ensure_connection()
        session = self.connection.connection
        if getattr(self, "_prepared_session", None) is not session:
            # A new connection (reconnected after an error) has no prepared statements.
            self._prepared_session = session
            self._prepared: set[tuple[int, bool]] = set()
        template = self.claim_template(limit, unkeyed)
        # Named after the statement's text: a session may hold another version's claim.
        name = f"dbq_claim_{hashlib.sha1(template.encode()).hexdigest()[:16]}"
        if (limit, unkeyed) not in self._prepared:
            slots = {key: f"${position}" for position, key in enumerate(PREPARED_PARAMETERS, 1)}
            types = ", ".join(PREPARED_PARAMETERS.values())
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = %s", [name])
                if cursor.fetchone() is None:
                    cursor.execute(f"PREPARE {name} ({types}) AS {template.format(**slots)}")
            self._prepared.add((limit, unkeyed))
        return name

    def insert_jobs(self, jobs):
        """COPY with psycopg 3 (far cheaper than a long INSERT); INSERTs with psycopg2.

        The COPY is binary where every column's type has a binary dumper (the server then
        parses no text and the driver formats none): about a third cheaper per row.
        """
        from .inserts import job_fields, rows  # inserts imports models, which imports it

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
        types = self._binary_copy_types(raw, table, fields)
        sql = f"COPY {table} ({columns}) FROM STDIN" + (" (FORMAT BINARY)" if types else "")
        with self.connection.cursor() as cursor:
            # COPY goes to the driver's own cursor: map its errors to Django's, as execute() does.
            with self.connection.wrap_database_errors:
                with cursor.cursor.copy(sql) as copy:
                    if types:
                        copy.set_types(types)
                    for row in rows(jobs, self.connection):
                        copy.write_row(row)

    def _binary_copy_types(self, raw, table: str, fields) -> list[int] | None:
        """The type oids of the job table's columns, read once per connection, or None when
        COPY must be text: a column whose type psycopg cannot dump in binary, or naive
        datetimes (USE_TZ off) that only the server's time zone can place."""
        if not settings.USE_TZ:
            return None
        if raw in _COPY_TYPES:
            return _COPY_TYPES[raw]
        from psycopg import ProgrammingError, pq

        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT attname, atttypid FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                [table],
            )
            oids = dict(cursor.fetchall())
        types: list[int] | None = [oids.get(f.column, 0) for f in fields]
        try:
            for oid in types:
                raw.adapters.get_dumper_by_oid(oid, pq.Format.BINARY)
        except ProgrammingError:  # no binary dumper for that type (or no such column)
            types = None
        _COPY_TYPES[raw] = types
        return types

    def outcome_values_sql(self, fields, count):
        # Typed, so NULLs and JSON land in their columns' types.
        pk = fields[0].model._meta.pk
        types = [pk.db_type(self.connection), "text", *(f.db_type(self.connection) for f in fields)]
        ops = self.connection.ops
        names = ["id", "owner", *(f.column for f in fields)]
        alias = f"v({', '.join(ops.quote_name(n) for n in names)})"
        columns = [f"v.{ops.quote_name(n)}" for n in names]
        if self._arrays_as_parameters():
            # One array per column (unnest): the statement's text and parameter count do not
            # grow with the group, so psycopg caches its parsing; a VALUES list of hundreds of
            # parameters is parsed anew each time (about 1 ms for 20 outcomes).
            arrays = ", ".join(f"%s::{cast}[]" for cast in types)
            return f"unnest({arrays}) AS {alias}", columns
        row = "(" + ", ".join(f"%s::{cast}" for cast in types) + ")"
        return f"(VALUES {', '.join([row] * count)}) AS {alias}", columns

    def outcome_parameters(self, params, width):
        if self._arrays_as_parameters():
            return [params[column::width] for column in range(width)]
        return params

    def _arrays_as_parameters(self) -> bool:
        """psycopg 3 (not psycopg2, whose list adaptation this code does not rely on)."""
        self.connection.ensure_connection()
        return hasattr(self.connection.connection, "pipeline")
