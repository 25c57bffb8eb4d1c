"""Every DBQ_* setting, read in one place.

Values are read from django.conf.settings on each access, never cached at import time, so
``override_settings`` works in tests.
"""

from typing import Any

from django.conf import settings as django_settings


class Defaults:
    """Default value of every DBQ_* setting; see docs/reference.md for their meaning."""

    # Seconds an idle worker waits between polls when no wake-up signal arrives.
    DBQ_POLL_INTERVAL: float = 0.5
    # Seconds a claimed step's lease lasts; the worker's heartbeat renews it every third of this.
    DBQ_LEASE_SECONDS: float = 30.0
    # Most jobs one claim query takes at once (the worker adapts it down for slow steps).
    DBQ_CLAIM_BATCH_SIZE: int = 20
    # Seconds a succeeded step's outcome may wait to be written in one transaction with others
    # (fewer commits, much faster); 0 writes every outcome at once. See outcomes.py.
    DBQ_OUTCOME_DELAY: float = 0.05
    # Whether a worker reads a claimed job's row again right before each step that does not
    # start right after its claim (one query per such step), so that a cancel committed before
    # a step starts always wins. Off: a re-check when PostgreSQL announces a cancel, and at
    # most 10 ms after the worker last saw the row on every database.
    DBQ_RECHECK_BEFORE_STEP: bool = False
    # How often a step's lease may expire (its worker died) before the job is FAILED.
    DBQ_MAX_RESCUES: int = 10
    # Exponential retry backoff: first delay and upper bound, in seconds.
    DBQ_RETRY_BACKOFF: float = 2.0
    DBQ_RETRY_BACKOFF_MAX: float = 3600.0
    # Rows deleted per statement by delete_old_jobs.
    DBQ_DELETE_BATCH_SIZE: int = 5000
    # Default age, in hours, of finished jobs that delete_old_jobs removes.
    DBQ_DELETE_JOBS_AFTER_HOURS: float = 24.0
    # Whether workers also spawn the jobs of due schedules (set False on workers that must not).
    DBQ_SCHEDULER: bool = True
    # Longest a worker's scheduler waits between two looks at the schedule table, in seconds.
    DBQ_SCHEDULER_INTERVAL: float = 1.0
    # Seconds after its time that an occurrence still counts as on time rather than missed
    # (catch_up "skip" drops missed occurrences).
    DBQ_SCHEDULE_GRACE: float = 60.0
    # Most jobs one schedule spawns in one catch-up (catch_up "all" and "skip").
    DBQ_SCHEDULE_CATCH_UP_LIMIT: int = 100


class Settings:
    """Lazy accessor: ``conf.settings.DBQ_POLL_INTERVAL`` reads the live Django setting."""

    def __getattr__(self, name: str) -> Any:
        if not hasattr(Defaults, name):
            raise AttributeError(name)
        return getattr(django_settings, name, getattr(Defaults, name))


settings = Settings()
