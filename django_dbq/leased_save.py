"""Saving a running job from inside its task: its data only, and only while the lease holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import router
from django.db.models.signals import post_save, pre_save

from .exceptions import LeaseLost

if TYPE_CHECKING:
    from .models import Job

# Columns of a running job that only its worker writes: its state, lease and progress. A
# task's save writing them back from its stale copy could undo a cancel or shorten the lease
# the heartbeat renewed (and so let a rescue run the step a second time).
WORKER_FIELDS = frozenset(
    {"state", "lease_owner", "lease_expires_at", "attempts", "rescues", "step", "next_task"}
    | {"started_at", "finished_at", "last_error", "traceback", "unique_key"}
)


def save_under_lease(
    job: Job, *, using: str | None = None, update_fields: Any = None, **_: Any
) -> None:
    """Write a running job's data columns, guarded by its lease; LeaseLost when it is gone.

    Used by Job.save() for a PROCESSING job with a lease owner: a task that calls job.save()
    (as django-db-queue 3.x code may) persists its workspace and other data, but never the
    worker's columns, and nothing at all once the job was cancelled, deleted or taken over.
    """
    from .models import JobState

    names = None if update_fields is None else set(update_fields)
    refused = (names or set()) & WORKER_FIELDS
    if refused:
        raise ValueError(
            f"a running job's {', '.join(sorted(refused))} belong to its worker and cannot "
            "be saved from a task; change job.workspace (or run_after, priority)"
        )
    model = type(job)
    fields = [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key
        and field.name not in WORKER_FIELDS
        and (names is None or field.name in names or field.attname in names)
    ]
    using = using or router.db_for_write(model, instance=job)
    pre_save.send(model, instance=job, raw=False, using=using, update_fields=names)
    values = {field.attname: field.pre_save(job, False) for field in fields}
    saved = (
        model._base_manager.using(using)
        .filter(pk=job.pk, state=JobState.PROCESSING, lease_owner=job.lease_owner)
        .update(**values)
    )
    if not saved:
        raise LeaseLost(
            f"job {job.pk} is no longer running under lease {job.lease_owner!r} "
            "(cancelled, deleted, or taken over after the lease expired): not saved"
        )
    post_save.send(model, instance=job, created=False, raw=False, using=using, update_fields=names)
