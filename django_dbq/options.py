"""How a worker process runs: the options of ``manage.py worker`` as one value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerOptions:
    """The settings of a worker process and each of its loops (None: the DBQ_* default)."""

    queue_name: str = "default"
    # At most one step per this many seconds (0: no limit); one loop only.
    rate_limit: float = 0
    # Exit once the queue has no runnable job.
    burst: bool = False
    # Exit after this many steps (all loops together).
    max_jobs: int | None = None
    poll_interval: float | None = None
    batch_size: int | None = None
    lease_seconds: float | None = None
    # Whether the process also spawns the jobs of due schedules (DBQ_SCHEDULER).
    scheduler: bool | None = None
    # Worker loops (threads) in the process.
    concurrency: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
            raise ValueError(f"concurrency must be a whole number >= 1, not {self.concurrency!r}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be a whole number >= 1, not {self.concurrency!r}")
        if self.concurrency > 1 and self.rate_limit:
            raise ValueError(
                "a rate limit cannot be combined with concurrency above 1: a rate limit runs "
                "one step at a time, so use a single loop (concurrency 1)"
            )
