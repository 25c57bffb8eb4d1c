"""MariaDB / MySQL: SELECT ... FOR UPDATE SKIP LOCKED, then UPDATE, in one transaction."""

from __future__ import annotations

import hashlib
import logging

from django.db import transaction

from ..exceptions import ClaimError
from ..models import Job, JobState
from ..transitions import claimed_values
from .base import Engine, not_paused_sql, outcome_rows, retry_on_deadlock
from .keyed import KeyedClaim

logger = logging.getLogger(__name__)

DEADLOCK_RETRIES = 5


def lock_name(name: str) -> str:
    """The GET_LOCK name of a concurrency key or job name (at most 64 characters)."""
    return "dbq:" + hashlib.sha1(name.encode()).hexdigest()


class MySQLEngine(KeyedClaim, Engine):
    """MariaDB/MySQL: SELECT ... FOR UPDATE SKIP LOCKED, then UPDATE (no UPDATE RETURNING)."""

    session_locks = True

    def claim_keyed(self, queue_name, owner, limit, now, lease_until, limited):
        return retry_on_deadlock(
            lambda: super(MySQLEngine, self).claim_keyed(
                queue_name, owner, limit, now, lease_until, limited
            ),
            DEADLOCK_RETRIES,
            "claim_deadlock_retry",
        )

    def try_locks(self, names, wanted=None):
        """GET_LOCK with no timeout on each name (as a digest: lock names have at most 64
        characters); locks beyond ``wanted`` are released at once."""
        names = list(names)
        if not names:
            return set()
        locks = [lock_name(name) for name in names]
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(["GET_LOCK(%s, 0)"] * len(locks)), locks)
            got = [name for name, ok in zip(names, cursor.fetchone(), strict=True) if ok == 1]
        if wanted is not None and len(got) > wanted:
            self.release_locks(set(got[wanted:]))
            got = got[:wanted]
        return set(got)

    def release_locks(self, names):
        locks = [lock_name(name) for name in names]
        if locks:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT " + ", ".join(["RELEASE_LOCK(%s)"] * len(locks)), locks)

    def claim(self, queue_name, owner, limit, now, lease_until, unkeyed=False):
        # InnoDB may pick this transaction as a deadlock victim against concurrent outcome
        # writes (they lock the same index entries in another order). It was rolled back, so
        # nothing was claimed and trying again is safe.
        return retry_on_deadlock(
            lambda: self._claim_once(queue_name, owner, limit, now, lease_until, unkeyed),
            DEADLOCK_RETRIES,
            "claim_deadlock_retry",
        )

    def _claim_once(self, queue_name, owner, limit, now, lease_until, unkeyed=False):
        alias = self.connection.alias
        ops = self.connection.ops
        table = ops.quote_name(Job._meta.db_table)
        columns = ", ".join(ops.quote_name(f.column) for f in Job._meta.concrete_fields)
        now_db = ops.adapt_datetimefield_value(now)
        # A locking read locks every row it walks past, so each SELECT walks the claim index
        # (FORCE INDEX) with an equality on the state: rows come in claim order and the scan
        # stops at the limit. One IN over both states would read, sort and lock the whole
        # backlog instead, leaving other workers nothing to claim meanwhile.
        sql = (
            f"SELECT {columns} FROM {table} FORCE INDEX (dbq_job_claim_idx) "
            "WHERE queue_name = %s AND state = %s "
            "AND (run_after IS NULL OR run_after <= %s) "
            f"AND {not_paused_sql(ops, '%s')} "
            + ("AND concurrency_key IS NULL " if unkeyed else "")
            + "ORDER BY priority DESC, created LIMIT %s FOR UPDATE SKIP LOCKED"
        )
        with transaction.atomic(using=alias):
            candidates = [
                job
                for state in (JobState.NEW, JobState.READY)
                for job in Job.objects.using(alias).raw(
                    sql, [queue_name, state.value, now_db, queue_name, queue_name, limit]
                )
            ]
            # The rest stay locked only until this short transaction commits.
            jobs = self.in_claim_order(candidates)[:limit]
            if not jobs:
                return []
            updated = (
                Job.objects.using(alias)
                .filter(pk__in=[job.pk for job in jobs])
                .update(**claimed_values(owner, now, lease_until))
            )
            if updated != len(jobs):
                # Never hand out jobs that were not leased: that would run them unguarded.
                raise ClaimError(
                    f"claimed {len(jobs)} jobs but could lease only {updated}; the job table's "
                    "id column does not match what Django writes (run manage.py migrate)"
                )
        for job in jobs:
            job.state = JobState.PROCESSING
            job.lease_owner = owner
            job.lease_expires_at = lease_until
            job.attempts += 1
            job.modified = now
            job.started_at = job.started_at or now
        return jobs

    def write_outcomes(self, outcomes):
        """All outcomes in one UPDATE joined with a derived table of their values.

        MariaDB/MySQL have no RETURNING on UPDATE: when fewer rows matched than outcomes were
        sent (a guard failed), read back which ones carry this group's values.
        """
        if not outcomes:
            return set()
        fields, params = outcome_rows(outcomes, self.connection)
        ops = self.connection.ops
        names = ["id", "owner", *(f.column for f in fields)]
        first = "SELECT " + ", ".join(f"%s AS {ops.quote_name(n)}" for n in names)
        other = "SELECT " + ", ".join(["%s"] * len(names))
        derived = " UNION ALL ".join([first] + [other] * (len(outcomes) - 1))
        assignments = ", ".join(
            f"j.{ops.quote_name(f.column)} = v.{ops.quote_name(f.column)}" for f in fields
        )
        table = ops.quote_name(Job._meta.db_table)
        sql = (
            f"UPDATE {table} AS j JOIN ({derived}) AS v ON j.id = v.id SET {assignments} "
            "WHERE j.state = %s AND j.lease_owner = v.owner"
        )
        with self.connection.cursor() as cursor:
            cursor.execute(sql, [*params, JobState.PROCESSING.value])
            # Django connects with CLIENT.FOUND_ROWS: rowcount counts matched rows.
            if cursor.rowcount == len(outcomes):
                return {job.pk for job, _, _ in outcomes}
        sent = {job.pk: (owner, values["modified"]) for job, owner, values in outcomes}
        rows = Job.objects.using(self.connection.alias).filter(pk__in=list(sent))
        return {
            pk
            for pk, owner, modified in rows.values_list("pk", "lease_owner", "modified")
            if (owner, modified) == sent[pk]
        }
