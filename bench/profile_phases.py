#!/usr/bin/env python
"""Where the time of one django_dbq job goes: microseconds per job by phase, on PostgreSQL.

    python bench/profile_phases.py                       # 20,000 jobs, 3 rounds, print the table
    python bench/profile_phases.py --jobs 5000 --rounds 1
    python bench/profile_phases.py --write-docs          # also put the table in docs/performance.md

One worker loop (``Worker.run_loop`` in burst mode, the loop ``manage.py worker --burst`` runs,
without the heartbeat threads) drains ``--jobs`` no-op jobs in this process, with the benchmark's
settings (bench/dbq_project/settings.py: DEBUG off, logging at WARNING, default batch sizes), on
a scratch database (default ``dbq_bench_profile``, created and dropped here; the server from the
BENCH_PG_* variables of bench/benchlib/dbsettings.py, default postgres@127.0.0.1:5432).

Each round drains twice, alternately:

1. **plain**: nothing instrumented. Gives the worker thread's CPU and wall time per job, and the
   CPU that the PostgreSQL backends serving this process used meanwhile (utime + stime of
   /proc/<pid>/stat of every backend connected to the scratch database: the worker's own
   connection and its LISTEN connection), i.e. the database's share. Shared server processes
   (WAL writer, checkpointer, autovacuum) are not counted.
2. **instrumented**: the functions that make up each phase are wrapped (deterministic
   instrumentation, not sampling) and their *exclusive* time is added up per phase: a wrapped
   call made inside another phase's call counts for its own phase only. CPU is the thread's
   CPU time (time.thread_time_ns), wall includes waiting for the database.

The phases (the functions wrapped; a name that no longer exists is reported as missing):

- claim (SQL round trip, row decoding): ``Worker._claim`` and the engine's ``claim``
- Job construction: ``Job.from_db`` (one model instance per claimed row)
- hooks and signals dispatch: ``signals.send``, ``executor._run_hook`` / ``_run_post_hook``
- the task call: the no-op task itself
- outcome values and buffering: ``executor._record_success`` (values, buffer copy)
- JSON check of the workspace: ``transitions.check_storable``
- outcome write (grouped UPDATE, encoding its parameters): ``OutcomeBuffer.flush``
- logging: ``Logger.info`` / ``debug`` / ``warning`` / ``log`` of django_dbq's loggers
- step set-up (``executor.run_step`` itself: bind, resolve, transaction, time limit, checks)
- worker loop (the rest): the plain round's CPU per job minus every phase above

The wrappers' own cost is measured first (a wrapped call of a function that does nothing; about
1.7 us on the 2-core VM this was written on, where reading a thread's CPU clock is a system
call), both the part that lands in the called phase and the part that lands in its caller's,
and subtracted per call; the table shows the instrumented sum beside the uninstrumented
total, so what is left of that cost is visible. Numbers depend on the machine and on what else
runs on it: compare phases within one run, and re-run after a change.

``--log-level INFO`` sends django_dbq's log records (two per job: step_started and
step_succeeded) through a formatting handler to /dev/null, as a worker that logs at INFO does;
the default keeps the benchmark's WARNING, where a record costs only the level check.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import logging
import os
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]

DOCS = ROOT / "docs" / "performance.md"
SECTION = "## Where the time of one job goes"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

TASK = "the task call and the step around it"
OUTCOME = "outcome encoding and write"
LOOP = "worker loop and other"
# (key, label, group): the groups are issue 17's phases; the keys are what is wrapped.
PHASES = (
    ("claim", "claim: build the statement, order, lease ledger (Python)", "claim and decode"),
    ("claim_sql", "claim: SQL in the driver (send, wait for the server)", "claim and decode"),
    ("fetch", "claim: load rows in the driver (psycopg, Django's tz loaders)", "claim and decode"),
    ("decode", "claim: ORM converters per value (`jobs_from_rows`)", "claim and decode"),
    ("construct", "Job construction (`Job.from_db`, one per row)", "Job construction"),
    ("recheck", "re-check of waiting claimed jobs (`Worker._look_again`)", "claim and decode"),
    ("notices", "cancel-notice poll before each step (`cancels_arrived`)", "hooks and signals"),
    ("hooks", "hooks and signals dispatch (`signals.send`, `_run_hook`)", "hooks and signals"),
    ("tracing", "OpenTelemetry span around the step (`tracing.traced`)", "hooks and signals"),
    (
        "step",
        "step set-up (`run_step` itself: resolve, bind, atomic, time limit)",
        TASK,
    ),
    ("task", "the task call (a no-op)", TASK),
    ("values", "outcome values and buffering (`_record_success`)", OUTCOME),
    ("json", "JSON check of the workspace (`check_storable`)", OUTCOME),
    ("encode", "outcome write: encode values (`outcome_rows`)", OUTCOME),
    (
        "write_sql",
        "outcome write: SQL in the driver (query conversion, send, wait)",
        OUTCOME,
    ),
    ("write", "outcome write: the rest of `OutcomeBuffer.flush`", OUTCOME),
    ("other_sql", "other SQL", LOOP),
    ("logging", "logging (django_dbq's loggers; see --log-level)", "logging"),
    (
        "loop",
        "worker loop: the rest (`run_batch`, `_run_job`, leases, quota)",
        LOOP,
    ),
)
# SQL run inside a phase is charged to that phase's own SQL row.
SQL_OF = {
    "claim": "claim_sql",
    "construct": "claim_sql",
    "write": "write_sql",
    "encode": "write_sql",
}


# -- instrumentation ------------------------------------------------------------------------------


class PhaseClock:
    """Exclusive wall and CPU time per phase, through a stack of the phases entered."""

    def __init__(self) -> None:
        self.wall: dict[str, int] = defaultdict(int)
        self.cpu: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)
        # Wrapped calls made directly inside each phase (part of a wrapper's cost lands there).
        self.nested: dict[str, int] = defaultdict(int)
        self.stack: list[str] = []
        self.mark = (0, 0)
        self.enabled = False

    def _charge(self) -> None:
        wall, cpu = time.perf_counter_ns(), time.thread_time_ns()
        if self.stack:
            phase = self.stack[-1]
            self.wall[phase] += wall - self.mark[0]
            self.cpu[phase] += cpu - self.mark[1]
        self.mark = (wall, cpu)

    def wrap(self, phase: str, function: Any) -> Any:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.enabled:
                return function(*args, **kwargs)
            self._charge()
            if self.stack:
                self.nested[self.stack[-1]] += 1
            self.stack.append(phase)
            self.calls[phase] += 1
            try:
                return function(*args, **kwargs)
            finally:
                self._charge()
                self.stack.pop()

        timed.__wrapped_phase__ = phase  # type: ignore[attr-defined]
        return timed

    def wrap_sql(self, function: Any, fetch: bool = False) -> Any:
        """Like wrap(), with the phase named after the phase that runs the statement.

        ``fetch``: reading a claim's rows is a phase of its own.
        """

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.enabled:
                return function(*args, **kwargs)
            outer = self.stack[-1] if self.stack else "loop"
            phase = SQL_OF.get(outer, outer if outer.endswith("_sql") else "other_sql")
            if outer == "recheck":
                phase = "recheck"
            elif fetch and phase == "claim_sql":
                phase = "fetch"
            self._charge()
            if self.stack:
                self.nested[self.stack[-1]] += 1
            self.stack.append(phase)
            self.calls[phase] += 1
            try:
                return function(*args, **kwargs)
            finally:
                self._charge()
                self.stack.pop()

        return timed

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()
        self.calls.clear()
        self.nested.clear()


def instrument(clock: PhaseClock) -> list[str]:
    """Wrap the functions of every phase; returns the names that were not found."""
    import dbq_project.tasks as tasks
    from django.db.backends.utils import CursorWrapper

    from django_dbq import engine, executor, notify, outcomes, signals, tracing, transitions, worker
    from django_dbq.engine import base
    from django_dbq.engine.postgresql import PostgreSQLEngine
    from django_dbq.models import Job

    missing: list[str] = []

    def patch(owner: Any, name: str, phase: str, label: str) -> None:
        if isinstance(owner, type):
            function = owner.__dict__.get(name)
        else:
            function = getattr(owner, name, None)
        if function is None:
            missing.append(label)
            return
        if isinstance(function, classmethod):
            setattr(owner, name, classmethod(clock.wrap(phase, function.__func__)))
        else:
            setattr(owner, name, clock.wrap(phase, function))

    patch(worker.Worker, "_claim", "claim", "Worker._claim")
    patch(PostgreSQLEngine, "claim", "claim", "PostgreSQLEngine.claim")
    # Inherited from Model: wrapped on Job only.
    Job.from_db = classmethod(clock.wrap("construct", Job.from_db.__func__))
    patch(worker.Worker, "_look_again", "recheck", "Worker._look_again")
    patch(notify.PostgreSQLWaker, "cancels_arrived", "notices", "PostgreSQLWaker.cancels_arrived")
    patch(signals, "send", "hooks", "signals.send")
    patch(executor, "_run_hook", "hooks", "executor._run_hook")
    patch(executor, "_run_post_hook", "hooks", "executor._run_post_hook")
    patch(tasks, "noop", "task", "dbq_project.tasks.noop")
    patch(executor, "_record_success", "values", "executor._record_success")
    patch(transitions, "check_storable", "json", "transitions.check_storable")
    patch(base, "outcome_rows", "encode", "engine.base.outcome_rows")
    for module in (engine.returning, engine.base):
        if hasattr(module, "outcome_rows"):
            module.outcome_rows = base.outcome_rows
    patch(outcomes.OutcomeBuffer, "flush", "write", "OutcomeBuffer.flush")
    # run_step is imported by name into worker.py; with opentelemetry-api installed it is the
    # traced wrapper of executor's run_step (functools.wraps keeps the inner as __wrapped__).
    traced = worker.run_step
    inner = getattr(traced, "__wrapped__", None)
    if inner is not None and tracing.TRACER is not None:
        worker.run_step = clock.wrap("tracing", tracing.traced(clock.wrap("step", inner)))
    else:
        worker.run_step = clock.wrap("step", traced)
    CursorWrapper.execute = clock.wrap_sql(CursorWrapper.execute)

    def fetchall(self: Any) -> Any:
        # What CursorWrapper.__getattr__ hands out for fetchall, as a method we can wrap.
        with self.db.wrap_database_errors:
            return self.cursor.fetchall()

    CursorWrapper.fetchall = clock.wrap_sql(fetchall, fetch=True)
    patch(base.Engine, "jobs_from_rows", "decode", "Engine.jobs_from_rows")
    timed_log = clock.wrap("logging", lambda logger, original, *a, **k: original(logger, *a, **k))
    for method in ("info", "debug", "warning", "log"):
        original = getattr(logging.Logger, method)

        def logged(self: logging.Logger, *args: Any, __original: Any = original, **kwargs: Any):
            if self.name.startswith("django_dbq"):
                return timed_log(self, __original, *args, **kwargs)
            return __original(self, *args, **kwargs)

        setattr(logging.Logger, method, logged)
    return missing


@dataclass(frozen=True)
class WrapperCost:
    """What one wrapped call adds, in ns: to its own phase, and to the phase that calls it."""

    own_cpu: float
    own_wall: float
    caller_cpu: float
    caller_wall: float


def wrapper_cost(clock: PhaseClock, calls: int = 200_000) -> WrapperCost:
    """Measure a wrapper around a function that does nothing, called from a timed phase."""

    def nothing() -> None:
        pass

    wrapped = clock.wrap("calibration", nothing)
    samples = []
    for _ in range(3):
        wall0, cpu0 = time.perf_counter_ns(), time.thread_time_ns()
        for _ in range(calls):
            nothing()
        bare_wall, bare_cpu = time.perf_counter_ns() - wall0, time.thread_time_ns() - cpu0
        clock.reset()
        clock.stack = ["caller"]
        clock.mark = (time.perf_counter_ns(), time.thread_time_ns())
        clock.enabled = True
        for _ in range(calls):
            wrapped()
        clock._charge()
        clock.enabled = False
        clock.stack = []
        samples.append(
            WrapperCost(
                own_cpu=clock.cpu["calibration"] / calls,
                own_wall=clock.wall["calibration"] / calls,
                caller_cpu=(clock.cpu["caller"] - bare_cpu) / calls,
                caller_wall=(clock.wall["caller"] - bare_wall) / calls,
            )
        )
    clock.reset()
    return min(samples, key=lambda sample: sample.own_cpu + sample.caller_cpu)


# -- the database's share -------------------------------------------------------------------------


def backend_cpu_ticks() -> dict[int, int]:
    """utime + stime (clock ticks) of each backend connected to this database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend'"
        )
        pids = [row[0] for row in cursor.fetchall()]
    ticks = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # not on this machine, or gone
        ticks[pid] = int(fields[11]) + int(fields[12])
    return ticks


# -- one drain ------------------------------------------------------------------------------------


def enqueue(count: int) -> None:
    from django.db import connection

    from django_dbq.models import Job

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE django_dbq_job")
    for start in range(0, count, 5000):
        Job.objects.enqueue_many([Job(name="noop") for _ in range(min(5000, count - start))])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE django_dbq_job")


def drain(count: int, clock: PhaseClock | None = None) -> dict[str, float]:
    """Drain ``count`` queued jobs with one burst worker loop; per-job figures in us.

    With a ``clock``, the loop's time is attributed to phases (what no phase claims: "loop").
    """
    from django_dbq.models import Job, JobState
    from django_dbq.options import WorkerOptions
    from django_dbq.worker import Worker

    loop = Worker(options=WorkerOptions("default", burst=True))
    before = backend_cpu_ticks()
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    if clock is not None:
        clock.stack = ["loop"]
        clock.mark = (time.perf_counter_ns(), time.thread_time_ns())
        clock.enabled = True
    try:
        loop.run_loop()
    finally:
        if clock is not None:
            clock._charge()
            clock.enabled = False
            clock.stack = []
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    after = backend_cpu_ticks()
    database = sum(after[pid] - before.get(pid, 0) for pid in after) / CLOCK_TICKS
    done = Job.objects.filter(state=JobState.COMPLETED).count()
    if done != count:
        raise SystemExit(f"drained {done} of {count} jobs: see the log above")
    return {
        "wall": wall / count * 1e6,
        "cpu": cpu / count * 1e6,
        "database": database / count * 1e6,
        "rate": count / wall,
    }


# -- the table ------------------------------------------------------------------------------------


def table(result: dict[str, Any]) -> list[str]:
    """The Markdown tables of one run: issue 17's phases, then every wrapped part."""
    rows = result["phases"]
    plain = result["plain"]
    named = sum(cpu for cpu, _, _ in rows.values())
    groups: dict[str, list[float]] = {}
    for key, _, group in PHASES:
        cpu, wall, _ = rows[key]
        totals = groups.setdefault(group, [0.0, 0.0])
        totals[0] += cpu
        totals[1] += wall
    lines = [
        "| phase (issue 17) | worker CPU (us/job) | share | wall (us/job) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for group, (cpu, wall) in groups.items():
        lines.append(f"| {group} | {cpu:.1f} | {cpu / named:.0%} | {wall:.1f} |")
    lines += [
        f"| **worker, all phases** (instrumented run) | **{named:.1f}** | 100% | |",
        f"| worker CPU per job, uninstrumented run | {plain['cpu']:.1f} | | {plain['wall']:.1f} |",
        f"| **PostgreSQL backends' CPU per job (the database)** | **{plain['database']:.1f}** "
        "| | |",
        "",
        "| part (functions wrapped) | worker CPU (us/job) | share | wall (us/job) | calls/job |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, label, _ in sorted(PHASES, key=lambda phase: -rows[phase[0]][0]):
        cpu, wall, calls = rows[key]
        lines.append(f"| {label} | {cpu:.1f} | {cpu / named:.0%} | {wall:.1f} | {calls:.2f} |")
    return lines


def render_section(result: dict[str, Any]) -> str:
    """The docs/performance.md section: how it was made, the table (the reading is kept)."""
    plain = result["plain"]
    both = plain["cpu"] + plain["database"]
    return "\n".join(
        [
            SECTION,
            "",
            f"Measured by `python bench/profile_phases.py --jobs {result['jobs']} --rounds "
            f"{result['rounds']} --write-docs` on {result['date']} (tree {result['git']}; "
            f"{result['machine']}; median of {result['rounds']} rounds). One worker loop drains "
            f"{result['jobs']:,} no-op jobs in-process with the benchmark's settings; CPU is the "
            "worker thread's, the database's share is the CPU of the PostgreSQL backends serving "
            "it (/proc/<pid>/stat). Deterministic wrappers attribute exclusive time to phases; "
            f"their cost ({result['overhead_ns']:.0f} ns of CPU per wrapped call, measured first; "
            "a part lands in the called phase, a part in the caller's) is subtracted. The "
            "instrumented run's sum and the uninstrumented run's total are both shown: their "
            "difference is what the wrappers still cost plus run-to-run noise. The script's "
            "docstring lists the functions behind each part.",
            "",
            f"Uninstrumented: {plain['rate']:,.0f} jobs/s in one loop; {plain['cpu']:.0f} us of "
            f"worker CPU and {plain['database']:.0f} us of database CPU per job "
            f"({both:.0f} us in all, the database {plain['database'] / both:.0%} of it).",
            "",
            *table(result),
            "",
        ]
    )


def write_docs(result: dict[str, Any]) -> None:
    """Replace the section's measured part (up to its ### Reading subsection) or append it."""
    text = DOCS.read_text()
    section = render_section(result)
    if SECTION not in text:
        DOCS.write_text(text.rstrip("\n") + "\n\n" + section)
        return
    head, tail = text.split(SECTION, 1)
    # Keep the hand-written reading and whatever follows the section.
    ends = [tail.index(m) + 1 for m in ("\n### Reading", "\n## ") if m in tail]
    kept = tail[min(ends) :] if ends else ""
    DOCS.write_text(head + section + ("\n" + kept if kept else ""))


# -- main -----------------------------------------------------------------------------------------


def setup_django(database: str) -> None:
    os.environ["BENCH_VENDOR"] = "postgresql"
    os.environ["BENCH_DB_NAME"] = database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dbq_project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "django_dbq", verbosity=0)
    call_command("migrate", run_syncdb=True, verbosity=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20000, help="jobs per drain (20000)")
    parser.add_argument("--rounds", type=int, default=3, help="plain + instrumented drains (3)")
    parser.add_argument(
        "--database", default="dbq_bench_profile", help="scratch database (a dbq_bench* name)"
    )
    parser.add_argument(
        "--log-level", default="WARNING", help="django_dbq's log level (WARNING, as the bench)"
    )
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    options = parser.parse_args(argv)

    from benchlib import databases, machine

    databases.recreate("postgresql", options.database)
    try:
        setup_django(options.database)
        if options.log_level.upper() != "WARNING":
            handler = logging.FileHandler(os.devnull)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            dbq_logger = logging.getLogger("django_dbq")
            dbq_logger.setLevel(options.log_level.upper())
            dbq_logger.addHandler(handler)
            dbq_logger.propagate = False  # the settings' console handler stays at WARNING
        clock = PhaseClock()
        cost = wrapper_cost(clock)

        missing = instrument(clock)
        if missing:
            print("not found (phase left empty):", ", ".join(missing), file=sys.stderr)

        plains, phases = [], []
        for round_number in range(options.rounds):
            enqueue(options.jobs)
            plains.append(drain(options.jobs))
            enqueue(options.jobs)
            clock.reset()
            drain(options.jobs, clock)
            per_job = {}
            for key, _, _ in PHASES:
                calls = clock.calls.get(key, 0)
                # Half a wrapper's cost lands in the phase itself, half in its caller's.
                nested = clock.nested.get(key, 0)
                cpu = clock.cpu.get(key, 0) - calls * cost.own_cpu - nested * cost.caller_cpu
                wall = clock.wall.get(key, 0) - calls * cost.own_wall - nested * cost.caller_wall
                cpu, wall = cpu / options.jobs / 1000, wall / options.jobs / 1000
                per_job[key] = (max(cpu, 0.0), max(wall, 0.0), calls / options.jobs)
            phases.append(per_job)
            print(
                f"round {round_number + 1}: plain {plains[-1]['rate']:,.0f} jobs/s, "
                f"{plains[-1]['cpu']:.1f} us worker CPU/job, "
                f"{plains[-1]['database']:.1f} us database CPU/job",
                file=sys.stderr,
            )
        result = {
            "jobs": options.jobs,
            "rounds": options.rounds,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "git": machine.git_revision(ROOT),
            "machine": _machine_line(machine.describe()),
            "overhead_ns": cost.own_cpu + cost.caller_cpu,
            "plain": {
                key: statistics.median(p[key] for p in plains)
                for key in ("wall", "cpu", "database", "rate")
            },
            "phases": {
                key: tuple(statistics.median(p[key][i] for p in phases) for i in range(3))
                for key, _, _ in PHASES
            },
        }
        print("\n".join(table(result)))
        if options.write_docs:
            write_docs(result)
            print(f"wrote {DOCS.relative_to(ROOT)}", file=sys.stderr)
    finally:
        from django.db import connections

        connections.close_all()
        databases.drop("postgresql", options.database)
    return 0


def _machine_line(described: dict[str, Any]) -> str:
    return f"{described['nproc']} cores, load average {described['loadavg']} at the end"


if __name__ == "__main__":
    sys.exit(main())
