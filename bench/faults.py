#!/usr/bin/env python
"""Fault injection: prove django_dbq's reliability promises while workers and connections die.

Several `manage.py worker` processes run thousands of 3-step jobs (half of them ``"atomic":
True``) while this script SIGKILLs a random worker every second or so, starts a replacement, and
now and then kills every worker's database connection. Then it stops the faults, lets the workers
finish, stops them with SIGTERM and checks:

  jobs lost                      must be 0
  jobs not COMPLETED             must be 0
  final workspace ["a","b","c"]  for every job
  steps run more than once       plain jobs only, each step at most 1 + the job's rescues
                                 times, and each interrupted run was in flight at a SIGKILL or a
                                 connection kill; atomic jobs: exactly one committed row per step
  steps run twice at once        must be 0: no run of a step starts before an earlier run of
                                 it, or of another step of its job, ended (every run's start
                                 and end are logged to files)
  worker crashes                 must be 0 (a worker survives the loss of its connection)
  exit code after one SIGTERM    must be 0

It prints a summary and exits 1 on any violation (2 on a setup error). Every phase is bounded:
the run takes at most about --duration + --drain-timeout + 30 seconds.

    python bench/faults.py --database-url postgres://postgres@127.0.0.1/dbq_faults_run
    python bench/faults.py --database-url mysql://root@127.0.0.1/dbq_faults_run --jobs 300 \\
        --workers 3 --duration 10

The threads variant: worker processes of --concurrency threads each, atomic steps that call
job.save() (--save-in-step) and steps longer than the lease, so that the heartbeat must keep
the leases of running steps while atomic steps hold their jobs' rows locked:

    python bench/faults.py --database-url postgres://postgres@127.0.0.1/dbq_faults_run \\
        --concurrency 4 --save-in-step --jobs 200 --step-seconds 4 --kill-interval 3 6

The tables are created with migrate; the script deletes only its own rows (jobs named chaos_*
and its step log) from an earlier run. --seed fixes the fault schedule, not the interleaving of
the processes, which no seed can fix.
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from faults_support.chaos import (  # noqa: E402
    QUEUE,
    WorkerPool,
    kill_database_connections,
    worker_env,
)
from faults_support.checks import (  # noqa: E402
    ATOMIC,
    PLAIN,
    ConnectionKill,
    Execution,
    Faults,
    JobRow,
    Run,
    Verdict,
    judge,
)
from faults_support.executions import read_executions  # noqa: E402
from faults_support.options import Options, parse_args  # noqa: E402
from faults_support.summary import say, summarize  # noqa: E402

logger = logging.getLogger("dbq_faults")

ENQUEUE_EVERY = 0.2  # seconds between two chunks of new jobs during the fault phase


class FaultRun:
    """One fault-injection run: set up, inject faults, drain, stop, check."""

    def __init__(self, options: Options, run_dir: Path):
        self.options = options
        self.run_dir = run_dir
        self.executions_dir = run_dir / "executions"
        self.executions_dir.mkdir(parents=True, exist_ok=True)
        # An earlier run given the same --log-dir left its log there: start afresh.
        for stale in self.executions_dir.glob("executions-*.log"):
            stale.unlink()
        self.env = worker_env(
            options.database_url,
            options.lease_seconds,
            options.step_seconds,
            self.executions_dir,
            options.max_rescues,
            options.save_in_step,
        )
        self.rng = random.Random(options.seed)
        self.pool = WorkerPool(self.env, run_dir, options.concurrency)
        self.faults = Faults()
        self.created: dict[str, str] = {}
        self.started = time.monotonic()

    # -- phases ------------------------------------------------------------------------------

    def setup_django(self) -> str:
        """Configure Django in this process like the workers; returns the vendor."""
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0, interactive=False)
        from faults_support.models import StepRun

        from django_dbq.models import Job

        Job.objects.filter(name__in=[PLAIN, ATOMIC]).delete()
        StepRun.objects.all().delete()
        return connection.vendor

    def enqueue(self, count: int) -> None:
        """Create ``count`` more jobs, alternating plain and atomic."""
        from django_dbq.models import Job

        if count <= 0:
            return
        first = len(self.created)
        names = [ATOMIC if (first + i) % 2 else PLAIN for i in range(count)]
        jobs = [Job(name=name, queue_name=QUEUE, workspace={}) for name in names]
        Job.objects.enqueue_many(jobs)
        for job in jobs:
            self.created[str(job.pk)] = job.name

    def inject_faults(self, vendor: str) -> None:
        """Enqueue in chunks and kill workers and connections until --duration has passed."""
        options = self.options
        end = time.monotonic() + options.duration
        window = options.duration * 0.75
        chunks = max(1, int(window / ENQUEUE_EVERY))
        per_chunk = math.ceil(options.jobs / chunks)
        next_enqueue = time.monotonic()
        next_fault = time.monotonic() + self.rng.uniform(*options.kill_interval)
        next_report = time.monotonic() + 5
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_enqueue and len(self.created) < options.jobs:
                self.enqueue(min(per_chunk, options.jobs - len(self.created)))
                next_enqueue += ENQUEUE_EVERY
            if now >= next_fault:
                # At least one connection kill per run (unless the chance is 0), whatever the dice.
                overdue = (
                    options.connection_kill_chance > 0
                    and not self.faults.connection_kills
                    and end - now < options.duration / 2
                )
                self.fault(vendor, kill_connections=overdue)
                next_fault = now + self.rng.uniform(*options.kill_interval)
            self.replace_crashed()
            if now >= next_report:
                self.report_progress("faults")
                next_report = now + 5
            pending = [next_fault, end, next_report]
            if len(self.created) < options.jobs:
                pending.append(next_enqueue)
            time.sleep(max(0.0, min(0.1, min(pending) - time.monotonic())))
        self.enqueue(options.jobs - len(self.created))

    def fault(self, vendor: str, kill_connections: bool = False) -> None:
        """SIGKILL a random worker, start its replacement; sometimes kill all connections."""
        running = [w for w in self.pool.running() if w not in self.pool.crashed]
        if running:
            victim = self.rng.choice(running)
            self.pool.sigkill(victim)
            self.faults.sigkilled[victim.pid] = victim.sigkilled_at or time.time()
            self.pool.start()
        chance = self.options.connection_kill_chance
        if vendor != "sqlite" and (self.rng.random() < chance or kill_connections):
            from django.db import connection

            at = time.time()
            pids = frozenset(self.pool.pids_alive_at(at))
            killed = kill_database_connections(connection)
            self.faults.connection_kills.append(ConnectionKill(at, pids))
            self.faults.connections_killed += killed
            logger.info("event=connections_killed count=%s", killed)

    def replace_crashed(self) -> None:
        """A worker that died on its own is a finding; replace it so the run goes on."""
        for worker in self.pool.reap_crashed():
            tail = worker.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            self.faults.crashed_workers.append(
                f"pid={worker.pid} exit={worker.process.returncode} log={worker.log_path} "
                f"last lines: {' | '.join(tail)}"
            )
            say(f"  worker pid={worker.pid} crashed (exit {worker.process.returncode}), replaced")
            self.pool.start()

    def drain(self) -> bool:
        """Wait, without faults, until no job is active; False after --drain-timeout."""
        from django_dbq.models import ACTIVE_STATES, Job

        deadline = time.monotonic() + self.options.drain_timeout
        next_report = time.monotonic() + 5
        while time.monotonic() < deadline:
            active = Job.objects.filter(name__in=[PLAIN, ATOMIC], state__in=ACTIVE_STATES).count()
            if not active:
                return True
            self.replace_crashed()
            if time.monotonic() >= next_report:
                self.report_progress("drain")
                next_report = time.monotonic() + 5
            time.sleep(0.25)
        return False

    def stop_workers(self) -> None:
        """One SIGTERM each: idle workers must exit 0 at once."""
        self.pool.wait_until_started(timeout=30)
        self.faults.shutdown_codes = self.pool.terminate_all(
            timeout=max(15.0, 3 * self.options.lease_seconds)
        )

    def collect(self) -> tuple[dict[str, JobRow], list[Run], list[Execution]]:
        """Read what the run left: the jobs, the step log, the execution log."""
        from faults_support.models import StepRun

        from django_dbq.models import Job

        jobs = {
            str(pk): JobRow(name, state, (workspace or {}).get("steps"), rescues, last_error)
            for pk, name, state, workspace, rescues, last_error in Job.objects.filter(
                name__in=[PLAIN, ATOMIC]
            ).values_list("pk", "name", "state", "workspace", "rescues", "last_error")
        }
        runs = [
            Run(str(job_id), step, pid, started)
            for job_id, step, pid, started in StepRun.objects.values_list(
                "job_id", "step", "pid", "started"
            )
        ]
        return jobs, runs, read_executions(self.executions_dir)

    def report_progress(self, phase: str) -> None:
        """One line of progress."""
        from django.db.models import Count

        from django_dbq.models import Job

        states = dict(
            Job.objects.filter(name__in=[PLAIN, ATOMIC])
            .order_by()
            .values_list("state")
            .annotate(n=Count("pk"))
        )
        say(
            f"  [{time.monotonic() - self.started:5.1f}s {phase}] created={len(self.created)} "
            f"states={states} sigkills={len(self.faults.sigkilled)} "
            f"connection_kills={len(self.faults.connection_kills)}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run, check, print; 0 when every promise held, 1 on a violation, 2 on a setup error."""
    options = parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("DBQ_FAULTS_LOG_LEVEL", "WARNING"),
        format="%(asctime)s %(levelname)s %(message)s",
    )
    run_dir = Path(options.log_dir or tempfile.mkdtemp(prefix="dbq-faults-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    run = FaultRun(options, run_dir)
    say(
        f"django_dbq fault injection: {options.jobs} jobs, {options.workers} workers "
        f"x {options.concurrency} threads, "
        f"{options.duration:g} s of faults, lease {options.lease_seconds:g} s, "
        f"seed {options.seed}; bounded by about "
        f"{options.duration + options.drain_timeout + 45:.0f} s; logs in {run_dir}"
    )
    try:
        vendor = run.setup_django()
    except Exception as error:
        say(f"setup failed: {error!r}")
        return 2
    verdict: Verdict | None = None
    try:
        for _ in range(options.workers):
            run.pool.start()
        run.inject_faults(vendor)
        say(f"  faults stopped after {time.monotonic() - run.started:.1f} s; draining")
        drained = run.drain()
        if not drained:
            say(f"  drain timed out after {options.drain_timeout:g} s")
        run.stop_workers()
        jobs, runs, executions = run.collect()
        verdict = judge(
            run.created,
            jobs,
            runs,
            run.faults,
            options.lease_seconds,
            executions,
            options.step_seconds,
        )
    finally:
        run.pool.kill_all()
    summarize(options, vendor, verdict, run, time.monotonic() - run.started)
    if verdict.ok and not options.keep_logs and not options.log_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    elif not verdict.ok:
        say(f"worker logs kept in {run_dir}")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
