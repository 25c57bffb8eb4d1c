"""The contract every contender implements for the driver (used only with Django set up)."""

from __future__ import annotations

import sys
from typing import Any

from .paths import BENCH


class NotSupported(Exception):
    """The contender has no such feature; the message says why (it ends up in the table)."""


class Adapter:
    """One queue under test: how to enqueue its no-op work, run its workers and count progress.

    Subclasses live next to their Django settings (bench/dbq_project, bench/peers/<name>).
    """

    # Shown in the results table.
    label: str = ""
    # The PyPI distribution whose version the report shows ("" for this working tree).
    distribution: str = ""
    # Database vendors the contender supports: "sqlite", "postgresql", "mariadb".
    vendors: tuple[str, ...] = ("sqlite", "postgresql", "mariadb")
    # Tables emptied before each measurement.
    tables: tuple[str, ...] = ()
    # Whether the contender runs multi-step jobs natively (else a task enqueues the next one).
    native_pipelines: bool = True
    # Seconds between two looks at the queue by an idle worker; 0 when it is woken by a push.
    wakeup_interval: float = 0.0
    # Whether its worker can exit by itself once the queue is empty (else it is stopped).
    has_burst: bool = True

    def worker_args(self, *, burst: bool) -> list[str]:
        """manage.py arguments of the contender's recommended worker command.

        ``burst`` asks for a worker that exits once the queue is empty, where there is one.
        """
        raise NotImplementedError

    def worker_command(self, args: list[str]) -> list[str]:
        """The command line of one worker process given ``args`` (a ``manage.py`` by default).

        A contender that is not a Django app (pgqueuer) starts its own command instead.
        """
        return [sys.executable, str(BENCH / "manage.py"), *args]

    def install(self) -> None:
        """Create what ``migrate`` does not (nothing by default): run once per database."""

    def threaded_worker_args(self, *, burst: bool, threads: int) -> list[str]:
        """manage.py arguments of one worker process running ``threads`` worker threads."""
        raise NotSupported("no threaded worker")

    def enqueue_noop_setup(self, count: int) -> None:
        """Enqueue ``count`` no-op jobs as fast as the contender allows (not timed)."""
        raise NotImplementedError

    def enqueue_pipelines(self, count: int) -> None:
        """Enqueue ``count`` three-step pipelines (not timed)."""
        raise NotImplementedError

    def enqueue_io(self, count: int, seconds: float, gates: int) -> None:
        """Enqueue ``count`` jobs whose one step sleeps ``seconds`` (not timed).

        Ahead of them, ``gates`` start gates: jobs claimed first whose step waits until every
        gate is claimed, so that ``gates`` worker slots start on the sleeping jobs together.
        """
        raise NotSupported("no start gates")

    def io_finished(self) -> int:
        """Jobs of ``enqueue_io`` finished so far (the gates not counted)."""
        raise NotSupported("no start gates")

    def enqueue_one(self) -> None:
        """Enqueue one no-op job through the contender's public API (timed one by one)."""
        raise NotImplementedError

    def enqueue_bulk(self, count: int) -> None:
        """Enqueue ``count`` no-op jobs with the contender's bulk API, building them included."""
        raise NotSupported("no bulk enqueue API")

    def enqueue_probe(self, sample: int) -> float:
        """Enqueue one probe job; return time.time() taken just before its commit."""
        raise NotImplementedError

    def remaining(self) -> int:
        """Jobs not finished yet (waiting or running); must stay cheap with a large history."""
        raise NotImplementedError

    def finished(self) -> int:
        """Jobs (or task rows) finished so far, succeeded or failed."""
        raise NotImplementedError

    def failed(self) -> int:
        """Jobs (or task rows) that failed."""
        raise NotImplementedError

    def steps_done(self, pipelines: int) -> int:
        """Pipeline steps finished so far, for ``pipelines`` enqueued three-step pipelines."""
        return self.finished()

    def notes(self) -> dict[str, Any]:
        """Facts about how this contender was run, for the report."""
        return {}
