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
  worker crashes                 must be 0 (a worker survives the loss of its connection)
  exit code after one SIGTERM    must be 0

It prints a summary and exits 1 on any violation (2 on a setup error). Every phase is bounded:
the run takes at most about --duration + --drain-timeout + 30 seconds.

    python bench/faults.py --database-url postgres://postgres@127.0.0.1/dbq_faults_run
    python bench/faults.py --database-url mysql://root@127.0.0.1/dbq_faults_run --jobs 300 \\
        --workers 3 --duration 10

The tables are created with migrate; the script deletes only its own rows (jobs named chaos_*
and its step log) from an earlier run. --seed fixes the fault schedule, not the interleaving of
the processes, which no seed can fix.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
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
    Faults,
    JobRow,
    Run,
    Verdict,
    judge,
)

from django_dbq.management.arguments import (  # noqa: E402
    non_negative_number as non_negative,
)
from django_dbq.management.arguments import positive_int  # noqa: E402

logger = logging.getLogger("dbq_faults")

ENQUEUE_EVERY = 0.2  # seconds between two chunks of new jobs during the fault phase


@dataclass
class Options:
    """The run's parameters."""

    database_url: str
    jobs: int
    workers: int
    duration: float
    seed: int
    lease_seconds: float
    drain_timeout: float
    kill_interval: tuple[float, float]
    connection_kill_chance: float
    step_seconds: float
    max_rescues: int
    log_dir: str | None
    keep_logs: bool


def parse_args(argv: list[str] | None = None) -> Options:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description="Kill workers and connections while jobs run; check nothing is lost.",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "sqlite:////tmp/dbq_faults_run.sqlite3"),
        help="database to run on, e.g. postgres://postgres@127.0.0.1/dbq_faults_run "
        "(default $DATABASE_URL)",
    )
    parser.add_argument("--jobs", type=positive_int, default=3000, help="jobs (half atomic)")
    parser.add_argument("--workers", type=positive_int, default=4, help="worker processes")
    parser.add_argument(
        "--duration", type=non_negative, default=60, help="seconds of faults (default 60)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault schedule")
    parser.add_argument(
        "--lease-seconds", type=non_negative, default=2.0, help="DBQ_LEASE_SECONDS (default 2)"
    )
    parser.add_argument(
        "--drain-timeout",
        type=non_negative,
        default=None,
        help="most seconds to wait for the last jobs after the faults (default 60 + 10 leases)",
    )
    parser.add_argument(
        "--kill-interval",
        type=non_negative,
        nargs=2,
        default=(0.3, 1.5),
        metavar=("MIN", "MAX"),
        help="seconds between two SIGKILLs, drawn uniformly (default 0.3 1.5)",
    )
    parser.add_argument(
        "--connection-kill-chance",
        type=non_negative,
        default=0.35,
        help="chance that a fault also kills every worker's connection (default 0.35)",
    )
    parser.add_argument(
        "--step-seconds",
        type=non_negative,
        default=0.01,
        help="each step sleeps up to this long, in flight (default 0.01)",
    )
    parser.add_argument(
        "--max-rescues", type=positive_int, default=10, help="DBQ_MAX_RESCUES (default 10)"
    )
    parser.add_argument("--log-dir", help="where worker logs go (default: a temporary folder)")
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the worker logs of a passing run too"
    )
    args = parser.parse_args(argv)
    low, high = args.kill_interval
    if high < low or high == 0:
        parser.error("--kill-interval needs 0 <= MIN <= MAX and MAX > 0")
    if args.lease_seconds < 0.5:
        parser.error("--lease-seconds must be >= 0.5")
    return Options(
        database_url=args.database_url,
        jobs=args.jobs,
        workers=args.workers,
        duration=args.duration,
        seed=args.seed,
        lease_seconds=args.lease_seconds,
        drain_timeout=(
            60 + 10 * args.lease_seconds if args.drain_timeout is None else args.drain_timeout
        ),
        kill_interval=(low, high),
        connection_kill_chance=min(1.0, args.connection_kill_chance),
        step_seconds=args.step_seconds,
        max_rescues=args.max_rescues,
        log_dir=args.log_dir,
        keep_logs=args.keep_logs,
    )


def say(message: str) -> None:
    """Print a progress or summary line at once."""
    print(message, flush=True)


class FaultRun:
    """One fault-injection run: set up, inject faults, drain, stop, check."""

    def __init__(self, options: Options, run_dir: Path):
        self.options = options
        self.run_dir = run_dir
        self.attempts_dir = run_dir / "attempts"
        self.attempts_dir.mkdir(parents=True, exist_ok=True)
        self.env = worker_env(
            options.database_url,
            options.lease_seconds,
            options.step_seconds,
            self.attempts_dir,
            options.max_rescues,
        )
        self.rng = random.Random(options.seed)
        self.pool = WorkerPool(self.env, run_dir)
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

    def collect(self) -> tuple[dict[str, JobRow], list[Run], int]:
        """Read what the run left: the jobs, the step executions, the atomic attempts."""
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
        attempts = 0
        for path in self.attempts_dir.glob("attempts-*.log"):
            attempts += sum(1 for line in path.read_text().splitlines() if line.strip())
        return jobs, runs, attempts

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


def summarize(options: Options, vendor: str, v: Verdict, run: FaultRun, elapsed: float) -> None:
    """Print the verdict so that a reader needs nothing else."""
    atomic_jobs = sum(1 for name in run.created.values() if name == ATOMIC)
    f = run.faults
    must0 = "(must be 0)"
    say("")
    say("django_dbq fault injection: results")
    say(
        f"  setup     {vendor}, {options.jobs} jobs x 3 steps ({atomic_jobs} atomic), "
        f"{options.workers} workers, {options.duration:g} s of faults, "
        f"lease {options.lease_seconds:g} s, seed {options.seed}, {elapsed:.1f} s in all"
    )
    say(
        f"  faults    {len(f.sigkilled)} workers SIGKILLed and replaced, "
        f"{len(f.connection_kills)} connection kills ({f.connections_killed} connections)"
    )
    say(
        f"  final     states {dict(sorted(v.states.items()))}; "
        f"{v.step_executions} rows in the step log"
    )
    say(f"  jobs lost .................................. {v.jobs_lost} {must0}")
    say(f"  jobs not COMPLETED ......................... {v.jobs_not_completed} {must0}")
    say(f"  jobs with a wrong workspace ................ {v.wrong_workspace} {must0}")
    say(f"  steps that never ran ....................... {v.missing_steps} {must0}")
    say(
        f"  rescues (expired leases returned to queue) . {v.rescues_total} in "
        f"{v.jobs_rescued} jobs, at most {v.max_rescues} for one job"
    )
    say(
        f"  plain jobs: steps run more than once ....... {v.plain_repeated_steps} "
        f"({v.plain_extra_executions} extra executions)"
    )
    say(
        f"    interrupted by a SIGKILL ................. {v.explained_by_sigkill}; "
        f"by a connection kill {v.explained_by_connection_kill}"
    )
    say(f"    interrupted by no fault .................. {v.unexplained_repeats} {must0}")
    say(f"    steps run more than 1 + rescues times .... {v.plain_over_rescue_bound} {must0}")
    rolled_back = (
        f"; {v.atomic_attempts} attempts, so {v.atomic_attempts - v.atomic_commits} "
        "interrupted and rolled back"
        if v.atomic_attempts is not None
        else ""
    )
    say(
        f"  atomic jobs: committed step effects ........ {v.atomic_commits} "
        f"for {atomic_jobs} jobs{rolled_back}"
    )
    say(f"    steps committed other than once .......... {v.atomic_steps_not_exactly_once} {must0}")
    say(f"  workers that crashed ....................... {len(f.crashed_workers)} {must0}")
    unclean = sum(1 for code in f.shutdown_codes.values() if code != 0)
    say(
        f"  workers not exiting 0 after one SIGTERM .... {unclean} of "
        f"{len(f.shutdown_codes)} {must0}"
    )
    why = (
        "why repeats are allowed: a step's outcome is written by one UPDATE guarded by the "
        "lease, so a step interrupted before its outcome was written (running, or its outcome "
        "still buffered for a grouped write) leaves its job PROCESSING until the lease expires "
        "and a rescue (rescues += 1) returns it; only then can the step run again. So a plain "
        "job's step runs at most 1 + rescues times, each extra run in flight at a fault. An "
        "atomic step's writes commit with the job's advance, so they count exactly once."
    )
    for line in textwrap.wrap(why, 96, initial_indent="  ", subsequent_indent="    "):
        say(line)
    if v.ok:
        say("PASS: every promise held")
    else:
        say(f"FAIL: {len(v.violations)} violation(s)")
        for message in v.violations:
            say(f"  - {message}")


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
        f"django_dbq fault injection: {options.jobs} jobs, {options.workers} workers, "
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
        jobs, runs, attempts = run.collect()
        verdict = judge(run.created, jobs, runs, run.faults, options.lease_seconds, attempts)
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
