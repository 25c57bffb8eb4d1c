"""The faults: worker subprocesses to SIGKILL and replace, and database connection kills."""

from __future__ import annotations

import ctypes
import logging
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("dbq_faults")

# The worker command's banner, of one worker or of a pool of threads.
STARTED = re.compile(rb"Starting (\d+ )?job worker")
ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / "bench"
QUEUE = "faults"


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when the conductor dies (Linux), never orphaned."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class WorkerProcess:
    """One `manage.py worker` subprocess and what became of it."""

    number: int
    process: subprocess.Popen
    log_path: Path
    started: float
    sigkilled_at: float | None = None
    terminated_at: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class WorkerPool:
    """Starts, kills and replaces worker subprocesses running the fault-injection queue."""

    env: dict[str, str]
    log_dir: Path
    concurrency: int = 1
    poll_interval: float = 0.05
    workers: list[WorkerProcess] = field(default_factory=list)
    # Workers that exited although nobody signalled them: crashes, always a finding.
    crashed: list[WorkerProcess] = field(default_factory=list)

    def start(self) -> WorkerProcess:
        """Start one more worker."""
        number = len(self.workers) + 1
        log_path = self.log_dir / f"worker-{number:03d}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "django",
                    "worker",
                    QUEUE,
                    "--poll-interval",
                    str(self.poll_interval),
                    "--concurrency",
                    str(self.concurrency),
                ],
                cwd=ROOT,
                env={**self.env, "DBQ_FAULTS_ROLE": "worker"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        worker = WorkerProcess(number, process, log_path, time.time())
        self.workers.append(worker)
        logger.info("event=worker_started number=%s pid=%s", number, process.pid)
        return worker

    def running(self) -> list[WorkerProcess]:
        """Workers not yet signalled by us (they may have crashed: see reap_crashed)."""
        return [w for w in self.workers if w.sigkilled_at is None and w.terminated_at is None]

    def sigkill(self, worker: WorkerProcess) -> None:
        """Kill a worker the hard way, wherever it is in its loop."""
        worker.sigkilled_at = time.time()
        try:
            os.kill(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.process.wait(timeout=30)
        logger.info("event=worker_sigkilled number=%s pid=%s", worker.number, worker.pid)

    def reap_crashed(self) -> list[WorkerProcess]:
        """Workers that exited on their own since the last call (they get replaced)."""
        found = []
        for worker in self.running():
            if worker.process.poll() is not None and worker not in self.crashed:
                self.crashed.append(worker)
                found.append(worker)
                logger.error(
                    "event=worker_crashed number=%s pid=%s returncode=%s log=%s",
                    worker.number,
                    worker.pid,
                    worker.process.returncode,
                    worker.log_path,
                )
        return found

    def wait_until_started(self, timeout: float) -> None:
        """Wait until every running worker has installed its signal handlers (or timeout).

        A worker still importing Django dies of SIGTERM like any process: that says nothing
        about the shutdown promise, which is about a running worker, so do not test it then.
        """
        deadline = time.monotonic() + timeout
        for worker in self.running():
            while time.monotonic() < deadline and worker.process.poll() is None:
                if STARTED.search(worker.log_path.read_bytes()):
                    break
                time.sleep(0.05)
        # The banner is printed just before Worker.run() installs the handlers.
        time.sleep(0.3)

    def terminate_all(self, timeout: float) -> dict[int, int | None]:
        """SIGTERM every running worker, wait up to ``timeout``; returns pid -> exit code."""
        alive = [w for w in self.running() if w not in self.crashed]
        for worker in alive:
            worker.terminated_at = time.time()
            try:
                worker.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        codes: dict[int, int | None] = {}
        for worker in alive:
            try:
                codes[worker.pid] = worker.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                codes[worker.pid] = None
        return codes

    def kill_all(self) -> None:
        """Last resort on every path out: no worker outlives the conductor."""
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
                try:
                    worker.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    logger.error("event=worker_unkillable pid=%s", worker.pid)

    def pids_alive_at(self, moment: float) -> set[int]:
        """Pids of the workers that were running at ``moment`` (time.time())."""
        pids = set()
        for worker in self.workers:
            ended = worker.sigkilled_at or worker.terminated_at or float("inf")
            if worker.started <= moment <= ended:
                pids.add(worker.pid)
        return pids


def kill_database_connections(connection) -> int:
    """Terminate the workers' database connections (never the conductor's); returns how many.

    PostgreSQL: pg_terminate_backend() for every backend of this database whose
    application_name marks it as a worker's. MariaDB/MySQL: KILL CONNECTION for every
    connection to this database but our own. SQLite has no connections to kill: 0.
    """
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s "
                "AND pid <> pg_backend_pid()",
                ["dbq_faults_worker"],
            )
            return int(cursor.fetchone()[0])
        if vendor == "mysql":
            cursor.execute(
                "SELECT id FROM information_schema.processlist "
                "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
            )
            killed = 0
            for (thread_id,) in cursor.fetchall():
                try:
                    cursor.execute(f"KILL CONNECTION {int(thread_id)}")
                    killed += 1
                except Exception as error:  # it ended on its own meanwhile
                    logger.info("event=kill_skipped id=%s error=%r", thread_id, error)
            return killed
    return 0


def worker_env(
    database_url: str,
    lease_seconds: float,
    step_seconds: float,
    executions_dir: Path,
    max_rescues: int,
    save_in_step: bool = False,
) -> dict[str, str]:
    """The environment of the conductor's Django and of every worker it starts."""
    python_path = os.pathsep.join(
        [str(ROOT), str(BENCH), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return {
        **os.environ,
        "PYTHONPATH": python_path,
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "faults_support.settings",
        "DBQ_FAULTS_DATABASE_URL": database_url,
        "DBQ_FAULTS_LEASE_SECONDS": str(lease_seconds),
        "DBQ_FAULTS_MAX_RESCUES": str(max_rescues),
        "DBQ_FAULTS_STEP_SECONDS": str(step_seconds),
        "DBQ_FAULTS_EXECUTIONS_DIR": str(executions_dir),
        "DBQ_FAULTS_SAVE_IN_STEP": "1" if save_in_step else "0",
    }
