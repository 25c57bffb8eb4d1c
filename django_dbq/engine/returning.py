"""A claim as one ``UPDATE ... WHERE id IN (SELECT ...) RETURNING`` statement."""

from __future__ import annotations

from string import Formatter

from ..models import Job, JobState
from .base import Engine, not_paused_sql, outcome_rows

# Must match the condition of the index dbq_job_waiting_idx (models.Job.Meta.indexes).
WAITING_SQL = "state IN ('NEW', 'READY')"
# Steps running (or cancelled while running), as flow control counts them.
LEASED_SQL = "state IN ('PROCESSING', 'STOPPING')"


class ReturningEngine(Engine):
    """Claims with a single UPDATE ... RETURNING; subclasses add the row-locking clause."""

    # Appended to the inner SELECT so concurrent claimers skip each other's rows.
    lock_clause = ""

    def claim(self, queue_name, owner, limit, now, lease_until, unkeyed=False):
        ops = self.connection.ops
        values = {
            "state": JobState.PROCESSING.value,
            "owner": owner,
            "lease_until": ops.adapt_datetimefield_value(lease_until),
            "now": ops.adapt_datetimefield_value(now),
            "queue": queue_name,
        }
        sql, params = self.claim_statement(limit, values, unkeyed)
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            jobs = self.jobs_from_rows(cursor.fetchall())
        return self.in_claim_order(jobs)

    def claim_statement(self, limit: int, values: dict, unkeyed: bool = False) -> tuple[str, list]:
        """The claim's SQL and parameters (a vendor may run a prepared statement instead)."""
        template = self.claim_template(limit, unkeyed)
        return template.format(**dict.fromkeys(values, "%s")), [
            values[name] for _, name, _, _ in Formatter().parse(template) if name
        ]

    def claim_template(self, limit: int, unkeyed: bool = False) -> str:
        """The claim statement for ``limit`` jobs with {named} slots for its values; with
        ``unkeyed``, of jobs without a concurrency_key only (the keyed claim takes those).

        The limit is a literal, not a parameter: with an unknown LIMIT, PostgreSQL's plan cache
        would judge a prepared claim's generic plan too costly and plan it anew every time.
        """
        cache = self.__dict__.setdefault("_claim_templates", {})
        template = cache.get((limit, unkeyed))
        if template is None:
            ops = self.connection.ops
            table = ops.quote_name(Job._meta.db_table)
            columns = ", ".join(ops.quote_name(f.column) for f in Job._meta.concrete_fields)
            keyed = "AND concurrency_key IS NULL " if unkeyed else ""
            template = cache[(limit, unkeyed)] = (
                f"UPDATE {table} SET state = {{state}}, lease_owner = {{owner}}, "
                "lease_expires_at = {lease_until}, attempts = attempts + 1, modified = {now}, "
                "started_at = COALESCE(started_at, {now}) "
                # The states are literals, not parameters, so the planner can prove that the
                # partial index dbq_job_waiting_idx (WHERE state IN ('NEW', 'READY')) applies.
                f"WHERE id IN (SELECT id FROM {table} WHERE queue_name = {{queue}} "
                f"AND {WAITING_SQL} {keyed}AND (run_after IS NULL OR run_after <= {{now}}) "
                f"AND {not_paused_sql(ops, '{queue}')} "
                f"ORDER BY priority DESC, created LIMIT {int(limit)}{self.lock_clause}) "
                f"RETURNING {columns}"
            )
        return template

    def write_outcomes(self, outcomes):
        """All outcomes in one ``UPDATE ... FROM (VALUES ...) RETURNING`` statement."""
        if not outcomes:
            return set()
        fields, params = outcome_rows(outcomes, self.connection)
        ops = self.connection.ops
        source, (v_id, v_owner, *v_columns) = self.outcome_values_sql(fields, len(outcomes))
        params = self.outcome_parameters(params, len(fields) + 2)
        assignments = ", ".join(
            f"{ops.quote_name(f.column)} = {v}" for f, v in zip(fields, v_columns, strict=True)
        )
        table = ops.quote_name(Job._meta.db_table)
        sql = (
            f"UPDATE {table} AS j SET {assignments} FROM {source} "
            f"WHERE j.id = {v_id} AND j.state = %s AND j.lease_owner = {v_owner} "
            f"RETURNING {self.returning_id}"
        )
        with self.connection.cursor() as cursor:
            cursor.execute(sql, [*params, JobState.PROCESSING.value])
            return {Job._meta.pk.to_python(row[0]) for row in cursor.fetchall()}

    def outcome_parameters(self, params: list, width: int) -> list:
        """The parameters of outcome_values_sql's source, from rows of ``width`` values."""
        return params

    # SQLite's RETURNING names the updated table's columns bare (no alias).
    returning_id = "id"

    def outcome_values_sql(self, fields, count):
        """The VALUES source of the outcome UPDATE and how to name its columns."""
        row = "(" + ", ".join(["%s"] * (len(fields) + 2)) + ")"
        # SQLite names a VALUES table's columns column1, column2, ...
        names = [f"v.column{i}" for i in range(1, len(fields) + 3)]
        return f"(VALUES {', '.join([row] * count)}) AS v", names
