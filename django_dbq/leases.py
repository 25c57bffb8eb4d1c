"""The lease ledger: which jobs one worker loop holds, and which of them it lost.

The loop adds the jobs it claims; its heartbeat renews them and marks those it finds cancelled,
taken over or deleted; the outcome writer marks those whose outcome it could not write. One lock
guards it all, so none of them reaches into another's fields.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any


class LeaseLedger:
    """Held and lost leases of one worker loop, safe to use from its heartbeat's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[Any] = set()
        self._lost: set[Any] = set()

    def claimed(self, ids: Iterable[Any]) -> None:
        """Jobs just claimed: held now, and no longer lost (a job may come back to a worker)."""
        with self._lock:
            for job_id in ids:
                self._held.add(job_id)
                self._lost.discard(job_id)

    def held(self) -> list[Any]:
        """A snapshot of the jobs held."""
        with self._lock:
            return list(self._held)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._held

    def __bool__(self) -> bool:
        return bool(self._held)

    def lose(self, ids: Iterable[Any]) -> None:
        """Jobs this worker must run no further step of (cancelled, taken over, not written)."""
        with self._lock:
            self._lost.update(ids)

    def lose_held(self, ids: Iterable[Any]) -> None:
        """Like lose(), for the ids still held (the heartbeat's view may be out of date)."""
        with self._lock:
            self._lost.update(set(ids) & self._held)

    def is_lost(self, job_id: Any) -> bool:
        """Whether the job was lost since it was claimed."""
        return job_id in self._lost

    def forget(self, ids: Iterable[Any], keep: Callable[[Any], bool] = lambda _: False) -> None:
        """Stop renewing these leases, except those ``keep`` says are still in use."""
        with self._lock:
            for job_id in ids:
                if not keep(job_id):
                    self._held.discard(job_id)

    def done(self, job_id: Any, keep: bool = False) -> None:
        """This worker is done with the job: forget it was lost, and its lease unless ``keep``."""
        with self._lock:
            self._lost.discard(job_id)
            if not keep:
                self._held.discard(job_id)

    def clear(self) -> None:
        """Drop every lease (after a database error: the steps in flight are left to rescue)."""
        with self._lock:
            self._held.clear()
            self._lost.clear()
