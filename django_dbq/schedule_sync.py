"""Schedules declared in JOBS: reading the declarations, and syncing them into the table.

```python
JOBS = {
    "nightly_import": {
        "tasks": ["app.jobs.fetch", "app.jobs.store"],
        "schedules": ["0 3 * * *"],  # named "nightly_import", like the job
    },
    "sync": {
        "tasks": ["app.jobs.sync"],
        "schedules": [
            {"name": "sync-eu", "interval": "15m", "workspace": {"region": "eu"}},
            {"name": "sync-us", "cron": "*/15 * * * *", "catch_up": "once", "priority": 5},
        ],
    },
}
```

Every worker syncs them when it starts (and ``manage.py schedules sync`` does on demand):
a declared schedule is created, updated when its declaration changed, and removed from the
table when it is no longer declared. Syncing is idempotent and safe when many workers start at
once: each row stores a fingerprint of the declaration it came from, and is only rewritten by
an UPDATE conditioned on the fingerprint it had.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field

from django.db import IntegrityError, router, transaction
from django.utils import timezone

from .models import Schedule
from .registry import get_registry
from .schedule_specs import ScheduleSpec

logger = logging.getLogger(__name__)


@dataclass
class SyncResult:
    """What one sync changed."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.created or self.updated or self.removed)


def sync_declared_schedules(now: datetime.datetime | None = None) -> SyncResult:
    """Make the table match the schedules declared in JOBS; safe to run from many workers."""
    now = now or timezone.now()
    result = SyncResult()
    declared = {spec.name: spec for spec in get_registry().schedules()}
    stored = dict(Schedule.objects.filter(name__in=declared).values_list("name", "settings_hash"))
    for name, spec in declared.items():
        fingerprint = spec.fingerprint()
        if stored.get(name) == fingerprint:
            continue
        if name not in stored and _create(spec, fingerprint):
            result.created.append(name)
        elif _update(spec, fingerprint, now):
            result.updated.append(name)
    stale = Schedule.objects.declared_in_settings().exclude(name__in=declared)
    result.removed = sorted(stale.values_list("name", flat=True))
    if result.removed:
        Schedule.objects.filter(name__in=result.removed).declared_in_settings().delete()
    if result:
        logger.info(
            "event=schedules_synced created=%s updated=%s removed=%s",
            ",".join(result.created) or "-",
            ",".join(result.updated) or "-",
            ",".join(result.removed) or "-",
        )
    return result


def _create(spec: ScheduleSpec, fingerprint: str) -> bool:
    """Insert the declared schedule; False when another worker inserted it first."""
    schedule = Schedule(name=spec.name, settings_hash=fingerprint, **spec.definition())
    try:
        with transaction.atomic(using=router.db_for_write(Schedule)):
            schedule.save()
    except IntegrityError:
        return False
    return True


def _update(spec: ScheduleSpec, fingerprint: str, now: datetime.datetime) -> bool:
    """Rewrite a row whose declaration changed; False when another worker already did."""
    row = Schedule.objects.filter(name=spec.name).first()
    if row is None or row.settings_hash == fingerprint:
        return False
    if not row.settings_hash:
        logger.warning("event=schedule_adopted schedule=%s reason=declared_in_JOBS", spec.name)
    previous_hash = row.settings_hash
    for key, value in spec.definition().items():
        setattr(row, key, value)
    errors = row.definition_errors()
    if errors:
        logger.error("event=schedule_sync_failed schedule=%s errors=%s", spec.name, errors)
        return False
    if row.enabled and row.needs_next_run_at():
        row.next_run_at = row.first_run_after(now)
    # Conditioned on the fingerprint read above: of many workers syncing the same change at
    # once, exactly one writes it, and next_run_at is computed once.
    return bool(
        Schedule.objects.filter(pk=row.pk, settings_hash=previous_hash).update(
            **spec.definition(),
            next_run_at=row.next_run_at,
            settings_hash=fingerprint,
            modified=now,
        )
    )
