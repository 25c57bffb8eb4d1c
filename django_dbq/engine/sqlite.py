"""SQLite: one atomic UPDATE ... RETURNING (SQLite serialises writers, so no row locks)."""

from __future__ import annotations

from .base import LEASED, Renewal
from .returning import ReturningEngine


class SQLiteEngine(ReturningEngine):
    """Claims in one statement; SQLite lets one writer at a time run it."""

    def renew(self, ids, owner, until):
        """Extend ``owner``'s leases with one UPDATE, then read what became of the others.

        No transaction around a read and a write: SQLite has no row locks to skip, and a
        deferred transaction whose read came before another writer's commit cannot write
        ("database is locked", whatever the timeout).
        """
        from ..models import Job, JobState  # models imports this package (through inserts)

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
