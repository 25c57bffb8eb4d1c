"""The engine contract: what a worker asks of the database, one implementation per vendor."""

from __future__ import annotations

import datetime
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import OperationalError, transaction

from ..states import LEASED_STATES

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from ..models import Job

logger = logging.getLogger(__name__)
T = TypeVar("T")
LEASED = frozenset(state.value for state in LEASED_STATES)


def outcome_rows(outcomes: list, connection: Any) -> tuple[list, list[Any]]:
    """The columns a group of outcomes writes, and its flat parameters, row by row:
    (job id, lease owner, value of each column)."""
    from ..models import Job  # models imports this package (through inserts)

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


def not_paused_sql(ops: Any, queue: str, row: str | None = None) -> str:
    """The claim's condition that no pause covers a job: its queue, or its name in that queue.

    ``queue`` is the placeholder of the queue name, used twice. The first NOT EXISTS does not
    depend on the row, so databases evaluate it once per claim (one probe of the pause table's
    unique index); the second is one probe per row the claim walks past. Both are for the
    jobs' own table (unaliased in every vendor's claim), compared byte for byte.
    """
    from ..models import Job, QueuePause  # models imports this package (through inserts)

    pauses = ops.quote_name(QueuePause._meta.db_table)
    jobs = row or ops.quote_name(Job._meta.db_table)  # ``row``: the job table's alias
    return (
        f"NOT EXISTS (SELECT 1 FROM {pauses} WHERE {pauses}.queue_name = {queue} "
        f"AND {pauses}.job_name = '') "
        f"AND NOT EXISTS (SELECT 1 FROM {pauses} WHERE {pauses}.queue_name = {queue} "
        f"AND {pauses}.job_name = {jobs}.name)"
    )


def is_deadlock(error: Exception) -> bool:
    """Whether a database error is a deadlock or lock wait timeout, after which a retry works."""
    code = error.args[0] if error.args else None
    # 1213: deadlock, 1205: lock wait timeout (MySQL/MariaDB); 40P01: deadlock (PostgreSQL).
    return (
        code in (1213, 1205)
        or getattr(error, "pgcode", None) == "40P01"
        or ("deadlock" in str(error).lower())
    )


@dataclass
class Renewal:
    """What one renewal found: leases extended, leases no longer ours (cancelled, taken over
    or deleted: run no further step), and rows skipped because another transaction locks them
    (still ours as far as can be seen; to be renewed again soon)."""

    renewed: set = field(default_factory=set)
    lost: set = field(default_factory=set)
    skipped: set = field(default_factory=set)


def database_retry_delay(failures: int) -> float:
    """Seconds to wait before trying the database again after ``failures`` errors in a row:
    capped exponential backoff (0.1 s doubling, at most 30 s), jittered to 50-100%."""
    return min(30.0, 0.1 * 2 ** min(failures, 10)) * (0.5 + random.random() / 2)


def retry_on_deadlock(run: Callable[[], T], attempts: int, event: str) -> T:
    """Run ``run``; again (up to ``attempts`` times in all) when the database picked it as a
    deadlock victim. Only for work that was rolled back whole and is safe to repeat."""
    for attempt in range(1, attempts + 1):
        try:
            return run()
        except OperationalError as error:
            if attempt == attempts or not is_deadlock(error):
                raise
            logger.warning("event=%s attempt=%s error=%r", event, attempt, error)
    raise AssertionError("unreachable")


class Engine:
    """Takes up to ``limit`` runnable jobs of a queue and leases them to one owner.

    A claim is atomic: every returned job was NEW or READY and runnable, is now PROCESSING with
    ``lease_owner=owner``, ``lease_expires_at=lease_until`` and ``attempts`` incremented, and no
    other claim can return it until it is released. Jobs come back in claim order (priority
    first, then oldest).
    """

    def __init__(self, connection: BaseDatabaseWrapper):
        self.connection = connection
        self._held_sql: dict[int, str] = {}

    def claim(
        self,
        queue_name: str,
        owner: str,
        limit: int,
        now: datetime.datetime,
        lease_until: datetime.datetime,
        unkeyed: bool = False,
    ) -> list[Job]:
        """Lease and return up to ``limit`` runnable jobs of ``queue_name``; with ``unkeyed``,
        only jobs without a concurrency_key (claim_keyed takes those)."""
        raise NotImplementedError

    def claim_keyed(
        self,
        queue_name: str,
        owner: str,
        limit: int,
        now: datetime.datetime,
        lease_until: datetime.datetime,
        limited: dict[str, Any],
    ) -> list[Job]:
        """Lease up to ``limit`` jobs with a concurrency_key whose key has room under the limits
        of ``limited`` (JobSpecs by name); see engine/keyed.py."""
        raise NotImplementedError

    def write_outcomes(self, outcomes: list[tuple[Job, str, dict[str, Any]]]) -> set[Any]:
        """Write (job, lease owner, values) outcomes in one statement; returns ids written.

        Each write is guarded: only a job still PROCESSING and leased to that owner changes.
        The values are absolute, so a retried call writes the same thing.
        """
        raise NotImplementedError

    def held(self, ids: list[Any], owner: str) -> set[Any]:
        """Which of ``ids`` are still PROCESSING under ``owner``: a plain read (it never waits
        on a lock), in SQL of its own because a worker may ask before every step."""
        from ..models import Job, JobState  # models imports this package (through inserts)

        connection = self.connection
        pk = Job._meta.pk
        sql = self._held_sql.get(len(ids))
        if sql is None:
            ops = connection.ops
            sql = self._held_sql[len(ids)] = (
                f"SELECT {ops.quote_name(pk.column)} FROM {ops.quote_name(Job._meta.db_table)} "
                f"WHERE {ops.quote_name(pk.column)} IN ({', '.join(['%s'] * len(ids))}) "
                "AND state = %s AND lease_owner = %s"
            )
        params = [pk.get_db_prep_value(job_id, connection) for job_id in ids]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, JobState.PROCESSING.value, owner])
            return {pk.to_python(row[0]) for row in cursor.fetchall()}

    def renew(self, ids: list[Any], owner: str, until: datetime.datetime) -> Renewal:
        """Extend ``owner``'s leases on ``ids`` without waiting on a row another transaction
        locks (SKIP LOCKED where the database has row locks); see Renewal."""
        from ..models import Job, JobState  # models imports this package (through inserts)

        alias = self.connection.alias
        jobs = Job.objects.using(alias)
        with transaction.atomic(using=alias):
            free = {
                pk: (state, lease_owner)
                for pk, state, lease_owner in jobs.filter(pk__in=ids)
                .select_for_update(skip_locked=True)
                .order_by()
                .values_list("pk", "state", "lease_owner")
            }
            renewed = {
                pk
                for pk, (state, lease_owner) in free.items()
                if lease_owner == owner and state in LEASED
            }
            if renewed:
                jobs.filter(pk__in=renewed).update(lease_expires_at=until)
        # A plain read never waits on a lock: tells deleted rows from locked ones.
        locked = {
            pk: (state, lease_owner)
            for pk, state, lease_owner in jobs.filter(pk__in=set(ids) - set(free))
            .order_by()
            .values_list("pk", "state", "lease_owner")
        }
        rows = {**free, **locked}
        lost = {
            pk
            for pk in ids
            if pk not in rows or rows[pk][1] != owner or rows[pk][0] != JobState.PROCESSING
        }
        return Renewal(renewed=renewed, lost=lost, skipped=set(locked) - lost)

    def rescue(
        self,
        expired: Any,
        now: datetime.datetime,
        limit: int,
        requeue: dict[str, Any],
        give_up: dict[str, Any],
        cancel: dict[str, Any],
        batch: int = 500,
    ) -> tuple[int, int, list[Job]]:
        """Requeue, give up on (FAILED) or end (CANCELLED) jobs whose lease expired, skipping
        rows another transaction locks; returns (requeued, cancelled, jobs given up on)."""
        from ..models import Job, JobState  # models imports this package (through inserts)

        alias = self.connection.alias
        jobs = Job.objects.using(alias)
        with transaction.atomic(using=alias):
            found = list(
                jobs.filter(expired).select_for_update(skip_locked=True).order_by()[:batch]
            )
            # The conditions are repeated in each UPDATE: SQLite has no row locks.
            running = [job for job in found if job.state == JobState.PROCESSING]
            requeued = jobs.filter(
                expired,
                pk__in=[job.pk for job in running if job.rescues < limit],
                state=JobState.PROCESSING,
            ).update(**requeue)
            given_up = [job for job in running if job.rescues >= limit]
            if given_up:
                ended = set(
                    jobs.filter(
                        expired, pk__in=[job.pk for job in given_up], state=JobState.PROCESSING
                    ).values_list("pk", flat=True)
                )
                jobs.filter(pk__in=ended).update(**give_up)
                given_up = [job for job in given_up if job.pk in ended]
            stopping = [job.pk for job in found if job.state == JobState.STOPPING]
            cancelled = (
                jobs.filter(expired, pk__in=stopping, state=JobState.STOPPING).update(**cancel)
                if stopping
                else 0
            )
        for job in given_up:
            for name, value in give_up.items():
                setattr(job, name, value)
        return requeued, cancelled, given_up

    # Rows per INSERT statement: well under every database's limit on statement parameters.
    rows_per_insert = 500

    def insert_jobs(self, jobs: list[Job]) -> None:
        """INSERT new, validated jobs with multi-row INSERT statements."""
        from .inserts import job_fields, rows  # inserts imports models, which imports it

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

    def jobs_from_rows(self, rows: list[tuple]) -> list[Job]:
        """Job instances from rows of every concrete column, converted as the ORM converts."""
        from ..models import Job  # models imports this package (through inserts)

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
            from ..models import Job  # models imports this package (through inserts)

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
