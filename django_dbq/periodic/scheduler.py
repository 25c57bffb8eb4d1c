"""Due Schedule rows -> Jobs, exactly once per occurrence, from any number of workers.

Each worker process runs a Scheduler beside its loops, on its housekeeping thread. Spawning
one schedule's due occurrences is
one transaction that

1. claims the row with ``UPDATE ... WHERE id = %s AND enabled AND next_run_at = <as read>``:
   of the workers that race for one occurrence, exactly one updates a row, the others wait for
   its row lock and then match nothing, because next_run_at has moved on (SQLite runs one
   writer at a time, so the same holds there). The claim is the transaction's first statement,
   which also keeps SQLite from having to upgrade a read lock;
2. reads the row again, now locked, and plans the occurrences (see recurrence.plan);
3. creates their jobs, each recording the schedule and the occurrence;
4. moves next_run_at past now.

So the jobs exist if and only if next_run_at moved: a crash at any point leaves either both or
neither. The unique constraint on (schedule, scheduled_for) backs this up: an occurrence that
was already spawned (next_run_at moved back by hand, say) is not spawned again.
"""

from __future__ import annotations

import datetime
import logging
import random

from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    router,
    transaction,
)
from django.utils import timezone

from ..conf import settings as conf
from ..exceptions import DbqError
from ..models import Job, Schedule
from ..recurrence import for_storage, plan
from ..schedule_sync import sync_declared_schedules
from . import DatabaseBackoff

logger = logging.getLogger(__name__)

# Most schedules one pass looks at; more due ones are taken by the next pass, at once.
PASS_SIZE = 100


def run_due_schedules(now: datetime.datetime | None = None) -> list[Job]:
    """Spawn the jobs of every due schedule and return them; what each worker does each second."""
    return _pass(now or timezone.now())[0]


def spawn_due(schedule_id: int, due_since: datetime.datetime, now: datetime.datetime) -> list[Job]:
    """Spawn one schedule's due occurrences, if this caller wins the row; returns the new jobs.

    ``due_since`` is the next_run_at the caller read: the claim succeeds only while the row
    still has it, so a second caller (or a second worker) spawns nothing.
    """
    with transaction.atomic(using=router.db_for_write(Schedule)):
        claimed = Schedule.objects.filter(
            pk=schedule_id, enabled=True, next_run_at=due_since
        ).update(modified=now)
        if not claimed:
            return []
        schedule = Schedule.objects.get(pk=schedule_id)
        try:
            decided = plan(
                schedule.recurrence(anchor=schedule.next_run_at),
                schedule.next_run_at,
                now,
                schedule.catch_up,
                grace=conf.DBQ_SCHEDULE_GRACE,
                limit=conf.DBQ_SCHEDULE_CATCH_UP_LIMIT,
            )
        except Exception as error:
            # A row written around validation (a bad cron expression set with update(), say):
            # park it, so it is not tried again every second, and say why.
            message = f"cannot compute the next run: {error}"
            logger.error("event=schedule_broken schedule=%s error=%s", schedule.name, error)
            Schedule.objects.filter(pk=schedule_id).update(next_run_at=None, last_error=message)
            return []
        if decided.missed:
            logger.warning(
                "event=schedule_missed schedule=%s catch_up=%s due_since=%s spawning=%s",
                schedule.name,
                schedule.catch_up,
                due_since.isoformat(),
                len(decided.spawn),
            )
        jobs: list[Job] = []
        errors: list[str] = []
        for occurrence in decided.spawn:
            job, error = _spawn(schedule, for_storage(occurrence))
            if job is not None:
                jobs.append(job)
            if error:
                errors.append(error)
        Schedule.objects.filter(pk=schedule_id).update(
            next_run_at=for_storage(decided.next_run_at),
            **({"last_run_at": now} if jobs else {}),
            last_error="; ".join(errors),
            modified=now,
        )
    return jobs


def _spawn(schedule: Schedule, occurrence: datetime.datetime) -> tuple[Job | None, str]:
    """Create the job of one occurrence in a savepoint; returns (job or None, error or "")."""
    job = schedule.new_job(scheduled_for=occurrence)
    alias = router.db_for_write(Job)
    try:
        with transaction.atomic(using=alias):
            job.save()
    except IntegrityError as error:
        if Job.objects.using(alias).filter(schedule=schedule, scheduled_for=occurrence).exists():
            logger.warning(
                "event=schedule_occurrence_exists schedule=%s occurrence=%s",
                schedule.name,
                occurrence.isoformat(),
            )
            return None, ""
        return None, _failed(schedule, occurrence, error)
    except DbqError as error:  # unknown job, invalid workspace, a unique job already active
        return None, _failed(schedule, occurrence, error)
    except Exception as error:  # the creation hook is user code: it must not stop the scheduler
        logger.exception("event=schedule_creation_hook_failed schedule=%s", schedule.name)
        return None, _failed(schedule, occurrence, error)
    logger.info(
        "event=schedule_spawned schedule=%s job=%s id=%s occurrence=%s",
        schedule.name,
        job.name,
        job.pk,
        occurrence.isoformat(),
    )
    return job, ""


def _failed(schedule: Schedule, occurrence: datetime.datetime, error: Exception) -> str:
    message = f"{occurrence.isoformat()}: {type(error).__name__}: {error}"
    logger.error(
        "event=schedule_spawn_failed schedule=%s occurrence=%s error=%s",
        schedule.name,
        occurrence.isoformat(),
        error,
    )
    return message


def _pass(now: datetime.datetime) -> tuple[list[Job], float]:
    """Spawn what is due; also return how long the caller may wait before the next pass."""
    interval = conf.DBQ_SCHEDULER_INTERVAL
    horizon = now + datetime.timedelta(seconds=interval)
    rows = list(
        Schedule.objects.filter(enabled=True, next_run_at__lte=horizon)
        .order_by("next_run_at")
        .values_list("pk", "next_run_at")[:PASS_SIZE]
    )
    jobs: list[Job] = []
    for pk, due_since in rows:
        if due_since <= now:
            jobs.extend(spawn_due(pk, due_since, now))
    upcoming = [due_since for _, due_since in rows if due_since > now]
    if upcoming:
        # Wake just after the next occurrence instead of up to a whole interval late.
        wait = (upcoming[0] - timezone.now()).total_seconds() + 0.001
    elif len(rows) == PASS_SIZE:
        wait = 0.0  # more due rows than one pass takes
    else:
        wait = interval
    return jobs, min(max(wait, 0.0), interval)


class Scheduler:
    """A worker process's scheduler: syncs JOBS' schedules once, then spawns due ones.

    It runs on the housekeeping thread, with its own database connection, so a long step in a
    worker loop never delays an occurrence.
    """

    name = "scheduler"

    def __init__(self, worker_id: str = ""):
        self.worker_id = worker_id
        self.synced = False
        self.backoff = DatabaseBackoff("scheduler_database_error", f"worker={worker_id}")

    @staticmethod
    def first_delay() -> float:
        """Jitter, so that workers started together do not all look at the same moment."""
        return random.random() * min(conf.DBQ_SCHEDULER_INTERVAL, 1.0)

    def run_once(self) -> float:
        """Sync (until it has worked once) and spawn; returns seconds until the next pass."""
        try:
            if not self.synced:
                sync_declared_schedules()
                self.synced = True
            wait = _pass(timezone.now())[1]
        except (DatabaseError, InterfaceError) as error:
            return self.backoff.failed(error)
        except Exception:
            logger.exception("event=scheduler_failed worker=%s", self.worker_id)
            return conf.DBQ_SCHEDULER_INTERVAL
        self.backoff.succeeded()
        return wait


def run_scheduler_once() -> list[Job]:
    """Sync JOBS' schedules and spawn what is due, in the caller's thread (worker --burst)."""
    sync_declared_schedules()
    return run_due_schedules()
