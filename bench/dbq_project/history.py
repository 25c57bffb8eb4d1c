"""The history case: a million finished jobs in the table, inserted in one SQL statement.

Rows are generated inside the database (generate_series on PostgreSQL, the SEQUENCE engine's
seq_1_to_N on MariaDB, a recursive CTE on SQLite), so a million rows take seconds, not minutes.
The column list is built from the Job model, so the insert follows changes to the model.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_dbq.engine import engine_for
from django_dbq.models import Job, JobState


def _row_source(vendor: str, rows: int) -> tuple[str, str, str, str]:
    """(FROM clause, sequence column, uuid expression, created expression) for a vendor."""
    if vendor == "postgresql":
        return (
            f"FROM generate_series(1, {rows}) AS seq(g)",
            "g",
            "gen_random_uuid()",
            # Spread over the last ~12 days, one row a second, all older than new jobs.
            "now() - make_interval(secs => g + 60)",
        )
    if vendor == "mysql":
        return (
            f"FROM seq_1_to_{rows}",
            "seq",
            "REPLACE(UUID(), '-', '')",
            "UTC_TIMESTAMP(6) - INTERVAL (seq + 60) SECOND",
        )
    if vendor == "sqlite":
        return (
            "FROM seq",
            "g",
            "lower(hex(randomblob(16)))",
            # %% because the statement goes through the DB-API's %s parameter style.
            "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-' || (g + 60) || ' seconds')",
        )
    raise ValueError(vendor)


def insert_history(rows: int) -> None:
    """Insert ``rows`` COMPLETED noop jobs (1 in 100 FAILED), then refresh planner statistics."""
    vendor = connection.vendor
    source, seq, uuid_sql, created_sql = _row_source(vendor, rows)
    ops = connection.ops
    table = ops.quote_name(Job._meta.db_table)
    expressions: dict[str, str] = {
        "id": uuid_sql,
        "created": created_sql,
        "modified": created_sql,
        "started_at": created_sql,
        "finished_at": created_sql,
        "state": (
            f"CASE WHEN {seq} %% 100 = 0 THEN '{JobState.FAILED.value}' "
            f"ELSE '{JobState.COMPLETED.value}' END"
        ),
    }
    literal: dict[str, Any] = {
        "name": "noop",
        "next_task": "",
        "step": 1,
        "workspace": {},
        "queue_name": "default",
        "attempts": 0,
    }
    columns, values, params = [], [], []
    for field in Job._meta.concrete_fields:
        columns.append(ops.quote_name(field.column))
        if field.name in expressions:
            values.append(expressions[field.name])
            continue
        value = literal[field.name] if field.name in literal else field.get_default()
        if value is None:
            values.append("NULL")
            continue
        values.append("%s")
        params.append(field.get_db_prep_save(value, connection))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) "
    select = f"SELECT {', '.join(values)} {source}"
    if vendor == "sqlite":
        sql += (
            f"WITH RECURSIVE seq(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM seq WHERE g < {rows}) "
        )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql + select, params)
    analyze()


def analyze() -> None:
    """Refresh the planner's statistics of the job table."""
    table = connection.ops.quote_name(Job._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {table}")
        elif connection.vendor == "mysql":
            cursor.execute(f"ANALYZE TABLE {table}")
            cursor.fetchall()
        else:
            cursor.execute("ANALYZE")


# A MariaDB claim plan that examines more rows than this is not run: InnoDB locks every row a
# locking read examines, and two workers' claims that each examined ~850,000 history rows filled
# the default 128 MB buffer pool with lock structs and crashed MariaDB 10.11 (signal 6).
MAX_EXAMINED_ROWS = 100_000


def claim_sql() -> str:
    """The SQL of the claim statement as the engine sends it (captured, then rolled back).

    Capture it while the queue is empty or small: on MariaDB the claim is a locking read.
    """
    claimer = engine_for()
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        with transaction.atomic():
            claimer.claim("default", "bench:explain", 20, now, now)
            transaction.set_rollback(True)
    for query in queries.captured_queries:
        sql = query["sql"].strip()
        head = sql.split(None, 1)[0].upper()
        if head in ("UPDATE", "SELECT", "WITH") and Job._meta.db_table in sql:
            return sql
        if head == "EXECUTE":  # PostgreSQL runs the claim as a prepared statement
            return sql
    raise RuntimeError("no claim statement captured: " + repr(queries.captured_queries))


def explain_claim(sql: str | None = None) -> dict[str, Any]:
    """The claim statement and the database's plan for it (executed and rolled back on PG).

    ``examined`` is MariaDB's estimate of the job rows the claim reads (and so locks).
    """
    sql = sql or claim_sql()
    vendor = connection.vendor
    examined = 0
    with transaction.atomic(), connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        elif vendor == "mysql":
            cursor.execute("EXPLAIN " + sql)
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            plan = "\n".join(
                "  ".join(f"{name}={value}" for name, value in row.items()) for row in rows
            )
            examined = sum(
                int(row.get("rows") or 0) for row in rows if row.get("table") == Job._meta.db_table
            )
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
        transaction.set_rollback(True)
    return {"sql": sql, "plan": plan, "examined": examined}


def unsafe_to_run(explain: dict[str, Any]) -> str:
    """Why running this claim could harm the server ("" when it is safe)."""
    if connection.vendor == "mysql" and explain.get("examined", 0) > MAX_EXAMINED_ROWS:
        return (
            f"not run: the claim's plan examines ~{explain['examined']:,} rows and InnoDB locks "
            "every row a locking read examines (two such claims crashed MariaDB 10.11 with its "
            "default 128 MB buffer pool); see the plan below"
        )
    return ""
