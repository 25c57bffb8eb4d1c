"""The keyed claim: jobs with a concurrency or rate limit, claimed only while their key has room.

A job with a limit carries a ``concurrency_key`` (flow.py); the ordinary claim leaves such rows
alone whenever JOBS declares a limit. This claim:

1. reads the keys waiting in the queue, in claim order of their first job, with the steps of
   each running now (an estimate, to skip keys that look full; outside any transaction);
2. takes a lock per key (and per job name, for a job-wide rate limit of a keyed job) that looks
   free, without waiting: PostgreSQL ``pg_try_advisory_xact_lock``, MariaDB/MySQL ``GET_LOCK``
   with no timeout (before the transaction of steps 3-5 begins; PostgreSQL's as its first
   statement). A key another worker holds is skipped this round, and when every key with room
   is held the claim tries again within milliseconds (LOCK_ATTEMPTS rounds);
3. counts, in a statement after the locks (so its snapshot sees every claim committed before
   them), the running steps and the rate window's starts of each locked key;
4. takes up to (limit - running) waiting jobs of each key in claim order, never more than the
   claim's batch, SKIP LOCKED; a rate-limited key gives at most one job per claim, so the steps
   a batch holds start close to the time its claim recorded;
5. leases them and writes the starts of rate-limited ones (rate_log.StepStart).

SQLite (one writer at a time) does 1-4 in one UPDATE ... RETURNING instead: see sqlite.py.

Cost: step 1 reads every waiting keyed row of the queue (an index range, no row locks; on
PostgreSQL a skip scan, one index descent per key), so a key that is full is looked at again on
every claim; step 4 is one query per key taken (one in all on PostgreSQL).
"""

from __future__ import annotations

import datetime
import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, transaction
from django.db.models import Count, Exists, Max, Min, OuterRef, Q

from ..flow import rate_scope
from ..rate_log import StepStart
from ..states import LEASED_STATES, WAITING_STATES
from ..transitions import claimed_values

if TYPE_CHECKING:
    from ..models import Job
    from ..registry import JobSpec

logger = logging.getLogger(__name__)

# Rounds of a keyed claim that found every key with room locked by other workers' claims.
LOCK_ATTEMPTS = 5


@dataclass
class KeyRoom:
    """A waiting key and what its job's spec allows (None: no such limit)."""

    key: str
    name: str
    concurrency: int | None
    # The rate limit's scope (the key, or the job name) and its count and window.
    scope: str | None = None
    rate: int | None = None
    seconds: int | None = None


def rooms(pairs: list[tuple[str, str]], limited: dict[str, JobSpec]) -> list[KeyRoom]:
    """The KeyRoom of each (key, job name); a name whose limits were removed has none."""
    found = []
    for key, name in pairs:
        spec = limited.get(name)
        concurrency = spec.concurrency if spec else None
        rate = spec.rate_limit if spec else None
        room = KeyRoom(key, name, concurrency.limit if concurrency else None)
        if rate is not None:
            room.scope = rate_scope(name, key, rate, concurrency)
            room.rate, room.seconds = rate.count, rate.seconds
        found.append(room)
    return found


def running_counts(jobs: Any, keys: list[str]) -> dict[str, int]:
    """Steps running now (PROCESSING or STOPPING) of each key."""
    rows = (
        jobs.filter(concurrency_key__in=keys, state__in=LEASED_STATES)
        .order_by()
        .values_list("concurrency_key")
        .annotate(count=Count("pk"))
    )
    return dict(rows)


def recent_starts(alias: str, rooms: list[KeyRoom], now: datetime.datetime) -> dict[str, int]:
    """Starts within its window of each rate scope of ``rooms``."""
    windows: dict[int, set[str]] = {}
    for room in rooms:
        if room.scope is not None:
            windows.setdefault(room.seconds, set()).add(room.scope)
    counts: dict[str, int] = {}
    for seconds, scopes in windows.items():
        since = now - datetime.timedelta(seconds=seconds)
        rows = (
            StepStart.objects.using(alias)
            .filter(scope__in=scopes, at__gt=since)
            .order_by()
            .values_list("scope")
            .annotate(count=Count("pk"))
        )
        counts.update(rows)
    return counts


def record_starts(alias: str, jobs: list[Job], limited: dict[str, JobSpec], now) -> None:
    """Write the start of each claimed rate-limited job's step (in the claim's transaction)."""
    starts = []
    for job in jobs:
        spec = limited.get(job.name)
        if spec is not None and spec.rate_limit is not None:
            scope = rate_scope(job.name, job.concurrency_key, spec.rate_limit, spec.concurrency)
            starts.append(StepStart(scope=scope, at=now))
    if starts:
        StepStart.objects.using(alias).bulk_create(starts)


class KeyedClaim:
    """The keyed claim of engines with row locks (PostgreSQL, MariaDB/MySQL); see the module."""

    connection: Any

    def try_locks(self, names: list[str], wanted: int | None = None) -> set[str]:
        """Take the named locks that are free, without waiting, until commit (or until
        release_locks on MariaDB/MySQL); stop after ``wanted``; returns the names taken."""
        raise NotImplementedError

    def release_locks(self, names: set[str]) -> None:
        """Release locks try_locks took that do not end with the transaction."""

    # Whether try_locks takes session locks (MariaDB/MySQL GET_LOCK), taken before the claim's
    # transaction begins so that its first read sees every claim committed before them, whatever
    # the isolation level. Transaction locks (PostgreSQL) are taken as its first statement.
    session_locks = False

    def claim_keyed(
        self,
        queue_name: str,
        owner: str,
        limit: int,
        now: datetime.datetime,
        lease_until: datetime.datetime,
        limited: dict[str, JobSpec],
    ) -> list[Job]:
        """Lease up to ``limit`` keyed jobs of ``queue_name`` whose key has room."""
        from ..models import Job  # models imports this package (through inserts)

        alias = self.connection.alias
        jobs = Job.objects.using(alias)
        waiting = self._waiting(jobs, queue_name, now)
        for attempt in range(1, LOCK_ATTEMPTS + 1):
            candidates = self._candidates(jobs, waiting, limited, queue_name, now)
            if not candidates:
                return []
            claimed = self._claim_round(
                jobs, waiting, candidates, owner, limit, now, lease_until, queue_name
            )
            if claimed is not None or attempt == LOCK_ATTEMPTS:
                return claimed or []
            # Every key with room was being claimed by another worker: its claim ends within
            # milliseconds, far sooner than this worker's next poll.
            time.sleep(random.uniform(0.001, 0.004))
        return []

    def _claim_round(self, jobs, waiting, candidates, owner, limit, now, lease_until, queue_name):
        """Lock the candidates' keys and take jobs within their room; None when another worker
        held the lock of every candidate."""
        alias = self.connection.alias
        taken: set[str] = set()
        try:
            if self.session_locks:
                locked = self._lock(candidates, limit, taken)
            with transaction.atomic(using=alias):
                if not self.session_locks:
                    locked = self._lock(candidates, limit, taken)
                if not locked:
                    return None
                return self._take(jobs, waiting, locked, owner, limit, now, lease_until, queue_name)
        finally:
            if taken and self.session_locks:
                try:
                    self.release_locks(taken)
                except DatabaseError as error:
                    # The session's locks end with it: a broken connection holds none.
                    logger.warning("event=claim_locks_not_released error=%r", error)

    def _candidates(self, jobs, waiting, limited, queue_name, now) -> list[KeyRoom]:
        """The waiting keys in claim order of their first job, without those that look full."""
        found = self.waiting_keys(jobs, waiting, queue_name, now)
        if not found:
            return []
        candidates = rooms([(key, name) for key, name, _ in found], limited)
        return [
            room
            for room, (_, _, running) in zip(candidates, found, strict=True)
            if room.concurrency is None or running < room.concurrency
        ]

    def waiting_keys(
        self, jobs: Any, waiting: Any, queue_name: str, now: datetime.datetime
    ) -> list[tuple[str, str, int]]:
        """(key, job name, steps running) of each key with waiting jobs, in claim order of its
        first job. Reads every waiting keyed job of the queue (PostgreSQL reads one per key)."""
        pairs = [
            (key, name)
            for key, name, *_ in waiting.order_by()
            .values_list("concurrency_key", "name")
            .annotate(first_priority=Max("priority"), first_created=Min("created"))
            .order_by("-first_priority", "first_created")
        ]
        running = running_counts(jobs, [key for key, _ in pairs]) if pairs else {}
        return [(key, name, running.get(key, 0)) for key, name in pairs]

    def _take(self, jobs, waiting, candidates, owner, limit, now, lease_until, queue_name):
        """Count the locked keys' room and lease waiting jobs within it."""
        from ..models import Job  # models imports this package (through inserts)

        alias = self.connection.alias
        # A new statement: its snapshot sees every claim committed before the locks were taken.
        running = running_counts(jobs, [room.key for room in candidates])
        starts = recent_starts(alias, candidates, now)
        wants: list[tuple[str, int]] = []
        for room in candidates:
            free = limit
            if room.concurrency is not None:
                free = min(free, room.concurrency - running.get(room.key, 0))
            if room.scope is not None:
                # A job-wide rate of a keyed job shares its room between the keys.
                free = min(free, 1, room.rate - starts.get(room.scope, 0))
                starts[room.scope] = starts.get(room.scope, 0) + max(free, 0)
            if free > 0:
                wants.append((room.key, free))
        chosen = self.lock_waiting(waiting, queue_name, wants, limit, now) if wants else []
        if not chosen:
            return []
        jobs.filter(pk__in=[job.pk for job in chosen]).update(
            **claimed_values(owner, now, lease_until)
        )
        scopes = {room.key: room.scope for room in candidates}
        starts_made = [
            StepStart(scope=scopes[job.concurrency_key], at=now)
            for job in chosen
            if scopes[job.concurrency_key]
        ]
        if starts_made:
            StepStart.objects.using(alias).bulk_create(starts_made)
        for job in chosen:
            job.state = Job.STATES.PROCESSING
            job.lease_owner = owner
            job.lease_expires_at = lease_until
            job.attempts += 1
            job.modified = now
            job.started_at = job.started_at or now
        return chosen

    def lock_waiting(
        self,
        waiting: Any,
        queue_name: str,
        wants: list[tuple[str, int]],
        limit: int,
        now: datetime.datetime,
    ) -> list[Job]:
        """Lock (SKIP LOCKED) up to ``n`` waiting jobs of each (key, n) of ``wants`` in claim
        order, at most ``limit`` in all: one query per key (PostgreSQL makes it one query)."""
        chosen: list[Job] = []
        for key, wanted in wants:
            chosen += (
                waiting.filter(concurrency_key=key)
                .order_by("-priority", "created")
                .select_for_update(skip_locked=True)[: min(wanted, limit - len(chosen))]
            )
            if len(chosen) >= limit:
                break
        return chosen

    @staticmethod
    def _waiting(jobs: Any, queue_name: str, now: datetime.datetime) -> Any:
        from ..pauses import QueuePause  # models imports this package (through inserts)

        # Paused queues and job names are skipped here too, as in the ordinary claim.
        pauses = QueuePause.objects.using(jobs.db).filter(queue_name=queue_name)
        return jobs.filter(
            Q(run_after__isnull=True) | Q(run_after__lte=now),
            ~Exists(pauses.filter(job_name="")),
            ~Exists(pauses.filter(job_name=OuterRef("name"))),
            queue_name=queue_name,
            state__in=WAITING_STATES,
            concurrency_key__isnull=False,
        )

    def _lock(self, candidates: list[KeyRoom], limit: int, taken: set[str]) -> list[KeyRoom]:
        """The candidates whose locks this claim took: job names of job-wide rates first, then
        keys (at most ``limit`` keys: each gives at least one job)."""
        names = sorted({room.scope for room in candidates if room.scope and room.scope != room.key})
        if names:
            taken |= self.try_locks(names)
            candidates = [
                room
                for room in candidates
                if not room.scope or room.scope == room.key or room.scope in taken
            ]
        limited = [room for room in candidates if room.concurrency or room.scope]
        keys = self.try_locks([room.key for room in limited], wanted=limit) if limited else set()
        taken |= keys
        return [
            room for room in candidates if room.key in keys or not (room.concurrency or room.scope)
        ]
