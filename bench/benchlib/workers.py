"""A contender's real worker processes, and timing them while they drain the queue.

Workers are ``manage.py`` processes (bench/manage.py), or the contender's own command
(Adapter.worker_command), started with the driver's Python, so they run in the contender's own
virtual environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

from .measurement import BenchError
from .paths import WORK

# How often the driver looks at the queue while workers drain it.
PROGRESS_POLL_SECONDS = 0.01


class Workers:
    """Real worker processes of a contender, started with its own command (``command``)."""

    def __init__(self, command: list[str], count: int, log_name: str, env: dict[str, str] | None):
        self.processes: list[subprocess.Popen] = []
        logs = WORK / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            log = open(logs / f"{log_name}-w{index}.log", "w")  # noqa: SIM115 (closed in stop)
            self.processes.append(
                subprocess.Popen(
                    command,
                    # Not the repository root: its django_dbq must not shadow a peer's.
                    cwd=WORK,
                    env={**os.environ, **(env or {})},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            log.close()

    def all_exited(self) -> bool:
        """True when every worker process has exited."""
        return all(process.poll() is not None for process in self.processes)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for all workers to exit by themselves."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.all_exited():
                return True
            time.sleep(0.02)
        return False

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM (the graceful stop every contender supports), then SIGKILL after ``grace``."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        if not self.wait(grace):
            for process in self.processes:
                if process.poll() is None:
                    process.kill()
            for process in self.processes:
                process.wait(timeout=10)


def watch_progress(
    progress: Callable[[], int], total: int, workers: Workers, timeout: float
) -> dict[str, float]:
    """Poll ``progress()`` until it reaches ``total``; time from the first progress seen.

    The rate is (total - done at the first observation) / (time from that observation to the
    last), so worker start-up (importing Django, connecting) is not counted against the queue.
    The wall time from launch is kept as well.
    """
    launched = time.perf_counter()
    first: tuple[float, int] | None = None
    exited_at: float | None = None
    while True:
        done = progress()
        now = time.perf_counter()
        if done >= total:
            break
        if first is None and done > 0:
            first = (now, done)
        if now - launched > timeout:
            raise BenchError(f"timed out after {timeout:.0f}s with {done}/{total} done")
        if workers.all_exited():
            # Give the last commit a moment to become visible, then give up.
            exited_at = exited_at or now
            if now - exited_at > 2:
                raise BenchError(f"workers exited with {done}/{total} done")
        time.sleep(PROGRESS_POLL_SECONDS)
    if first is None or now - first[0] < 0.05:
        raise BenchError(f"{total} units finished before progress could be observed; raise --jobs")
    return {
        "rate": (total - first[1]) / (now - first[0]),
        "wall_rate": total / (now - launched),
        "seconds": now - first[0],
        "wall_seconds": now - launched,
    }


def run_drain(
    adapter: Any,
    *,
    total: int,
    workers: int,
    enqueue: Callable[[], None],
    progress: Callable[[], int],
    log_name: str,
    timeout: float,
    until_empty: bool = True,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    """Enqueue first, then start workers and time them until ``total`` units are finished.

    With ``until_empty`` false the queue holds more than ``total``: the workers are stopped
    once ``total`` are done instead of waiting for burst workers to exit. ``args`` replace the
    contender's burst worker command; ``env`` is added to the workers' environment.
    """
    enqueue()
    failed_before = adapter.failed()
    command = adapter.worker_command(args or adapter.worker_args(burst=True))
    pool = Workers(command, workers, log_name, env)
    try:
        result = watch_progress(progress, total, pool, timeout)
        if adapter.has_burst and until_empty:
            pool.wait(30)
    finally:
        pool.stop()
    failed = adapter.failed() - failed_before
    if failed:
        raise BenchError(f"{failed} jobs failed (see bench/work/logs/{log_name}-w*.log)")
    return result
