"""SQLite: one atomic UPDATE ... RETURNING (SQLite serialises writers, so no row locks)."""

from __future__ import annotations

import datetime

from django.db import transaction

from ..models import Job, JobState
from .base import LEASED, Renewal, not_paused_sql
from .keyed import record_starts
from .returning import LEASED_SQL, WAITING_SQL, ReturningEngine


class SQLiteEngine(ReturningEngine):
    """Claims in one statement; SQLite lets one writer at a time run it."""

    def renew(self, ids, owner, until):
        """Extend ``owner``'s leases with one UPDATE, then read what became of the others.

        No transaction around a read and a write: SQLite has no row locks to skip, and a
        deferred transaction whose read came before another writer's commit cannot write
        ("database is locked", whatever the timeout).
        """
        jobs = Job.objects.using(self.connection.alias)
        jobs.filter(pk__in=ids, lease_owner=owner, state__in=LEASED).update(lease_expires_at=until)
        rows = {
            pk: (state, lease_owner)
            for pk, state, lease_owner in jobs.filter(pk__in=ids)
            .order_by()
            .values_list("pk", "state", "lease_owner")
        }
        renewed = {
            pk
            for pk, (state, lease_owner) in rows.items()
            if lease_owner == owner and state in LEASED
        }
        lost = {
            pk
            for pk in ids
            if pk not in rows or rows[pk][1] != owner or rows[pk][0] != JobState.PROCESSING
        }
        return Renewal(renewed=renewed, lost=lost)

    def claim_keyed(self, queue_name, owner, limit, now, lease_until, limited):
        """The keyed claim as one UPDATE ... RETURNING (see keyed_statement), and the starts of
        rate-limited steps, in one transaction whose first statement writes.

        A read before the first write would make the transaction a reader that must upgrade to
        a writer, which SQLite refuses ("database is locked") when another writer committed
        meanwhile; a first statement that writes waits its turn (busy_timeout) instead.
        """
        sql, params = self.keyed_statement(queue_name, owner, limit, now, lease_until, limited)
        alias = self.connection.alias
        with transaction.atomic(using=alias):
            with self.connection.cursor() as cursor:
                cursor.execute(sql, params)
                jobs = self.jobs_from_rows(cursor.fetchall())
            record_starts(alias, jobs, limited, now)
        return self.in_claim_order(jobs)

    def keyed_statement(
        self,
        queue_name: str,
        owner: str,
        limit: int,
        now: datetime.datetime,
        lease_until: datetime.datetime,
        limited: dict,
    ) -> tuple[str, list]:
        """One UPDATE that leases, in claim order, waiting keyed jobs within their key's room.

        Each waiting job is numbered within its key (and within its job name, for a job-wide
        rate limit of a keyed job) in claim order; a job is taken when its number is within
        (limit - steps running) of its key and within the rate window's room (at most one per
        claim, as on the other databases). A job whose name has no limit any more is taken
        freely.
        """
        ops = self.connection.ops
        table = ops.quote_name(Job._meta.db_table)
        starts = ops.quote_name(_start_table())
        columns = ", ".join(ops.quote_name(f.column) for f in Job._meta.concrete_fields)
        adapt = ops.adapt_datetimefield_value
        limits: list = []
        for name, spec in limited.items():
            rate = spec.rate_limit
            by_name = bool(rate and not rate.key and spec.concurrency and spec.concurrency.key)
            limits += [
                name,
                spec.concurrency.limit if spec.concurrency else None,
                rate.count if rate else None,
                adapt(now - datetime.timedelta(seconds=rate.seconds)) if rate else None,
                int(by_name),
            ]
        rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(limited))
        sql = (
            f"WITH lim(name, conc, rate_n, cutoff, by_name) AS (VALUES {rows}), "
            "cand AS (SELECT j.id, j.priority, j.created, j.concurrency_key AS k, j.name AS n, "
            "ROW_NUMBER() OVER (PARTITION BY j.concurrency_key "
            "ORDER BY j.priority DESC, j.created) AS rk, "
            "ROW_NUMBER() OVER (PARTITION BY j.name ORDER BY j.priority DESC, j.created) AS rn "
            f"FROM {table} j WHERE j.queue_name = %s AND j.{WAITING_SQL} "
            "AND j.concurrency_key IS NOT NULL "
            "AND (j.run_after IS NULL OR j.run_after <= %s) "
            f"AND {not_paused_sql(ops, '%s', row='j')}), "
            "picked AS (SELECT c.id FROM cand c LEFT JOIN lim l ON l.name = c.n "
            "WHERE l.name IS NULL OR ("
            "(l.conc IS NULL OR c.rk <= l.conc - "
            f"(SELECT COUNT(*) FROM {table} r WHERE r.concurrency_key = c.k AND r.{LEASED_SQL})) "
            "AND (l.rate_n IS NULL OR "
            "(CASE WHEN l.by_name THEN c.rn ELSE c.rk END) <= MIN(1, l.rate_n - "
            f"(SELECT COUNT(*) FROM {starts} s "
            "WHERE s.scope = (CASE WHEN l.by_name THEN c.n ELSE c.k END) AND s.at > l.cutoff))))"
            f" ORDER BY c.priority DESC, c.created LIMIT {int(limit)}) "
            f"UPDATE {table} SET state = %s, lease_owner = %s, lease_expires_at = %s, "
            "attempts = attempts + 1, modified = %s, started_at = COALESCE(started_at, %s) "
            f"WHERE id IN (SELECT id FROM picked) RETURNING {columns}"
        )
        params = [
            *limits,
            queue_name,
            adapt(now),
            queue_name,
            queue_name,
            JobState.PROCESSING.value,
            owner,
            adapt(lease_until),
            adapt(now),
            adapt(now),
        ]
        return sql, params


def _start_table() -> str:
    from ..rate_log import StepStart  # models imports rate_log after Job

    return StepStart._meta.db_table
