#!/usr/bin/env python
"""Benchmark django_dbq against its peers on SQLite, PostgreSQL and MariaDB, in one run.

    python bench/run.py                      # everything, 3 runs each, peers included
    python bench/run.py --quick --no-peers   # a small smoke run (about two minutes)

Measures drain (1 and 2 worker processes), three-step pipelines, pickup latency (median, p95),
enqueue (one by one and bulk), draining with a large history of finished jobs or off a deep
backlog, and (django_dbq only) draining I/O-bound jobs with 1 worker thread, 8 threads in one
process (--concurrency 8) or 8 processes; repeats each measurement and writes medians and
spreads to bench/RESULTS.md. Run it with a Python that has django_dbq's dependencies
(``pip install -e '.[postgresql,mysql]'``). Peers are installed from PyPI into their own
virtual environments under bench/work/venvs/. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"
sys.path.insert(0, str(BENCH))

from benchlib import databases, machine, report  # noqa: E402

DJANGO = "Django>=5.2,<5.3"
PSYCOPG = "psycopg[binary]>=3.1"
MYSQLCLIENT = "mysqlclient>=2.2"
RESULT_PREFIX = "BENCH_RESULT "
# Worker slots of the io workload: threads of one process, or processes (report.py's rows say 8).
IO_SLOTS = 8


@dataclass(frozen=True)
class Contender:
    """One queue under test and how to run it."""

    key: str
    adapter: str
    settings: str
    # Requirements of its own virtual environment; empty for this working tree.
    requirements: tuple[str, ...] = ()
    vendors: tuple[str, ...] = databases.VENDORS
    # django-db-queue 3.x runs about one step per second: smaller counts keep the run short.
    slow: bool = False
    history: bool = False
    # Whether its worker runs several worker threads in one process (the io workload).
    threads: bool = False

    @property
    def database(self) -> str:
        return f"dbq_bench_{'run' if self.key == 'django_dbq' else self.key}"


OURS = Contender(
    "django_dbq", "dbq_project.adapter", "dbq_project.settings", history=True, threads=True
)
PEERS = (
    Contender(
        "dbq3",
        "peers.dbq3.adapter",
        "peers.dbq3.settings",
        ("django-db-queue==3.3.0", DJANGO, PSYCOPG, MYSQLCLIENT),
        slow=True,
    ),
    Contender(
        "tasks_db",
        "peers.tasks_db.adapter",
        "peers.tasks_db.settings",
        # Since django-tasks 0.12 the database backend is the separate django-tasks-db
        # package; on Django 5.2 its "compat" extra brings the django-tasks backport.
        ("django-tasks-db[compat]==0.13.0", "django-tasks==0.12.0", DJANGO, PSYCOPG, MYSQLCLIENT),
    ),
    Contender(
        "procrastinate",
        "peers.procrastinate_peer.adapter",
        "peers.procrastinate_peer.settings",
        ("procrastinate[django]==3.10.0", DJANGO, PSYCOPG),
        vendors=("postgresql",),
    ),
)


@dataclass
class Plan:
    """What to measure, from the command line."""

    jobs: int
    bulk_jobs: int
    samples: int
    repeat: int
    history_rows: int
    backlog_rows: int
    io_jobs: int
    workloads: tuple[str, ...]
    timeout: float
    results: list[dict[str, Any]] = field(default_factory=list)


def log(message: str) -> None:
    """Progress on stderr, with the time of day."""
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# -- virtual environments ------------------------------------------------------------------------


def ensure_venv(contender: Contender, base_python: str) -> tuple[str | None, str]:
    """The Python of the contender's venv (created or refreshed as needed), or None and why."""
    venv = WORK / "venvs" / contender.key
    python = venv / "bin" / "python"
    marker = venv / ".bench-requirements"
    wanted = "\n".join(contender.requirements)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return str(python), ""
    requirements = " ".join(contender.requirements)
    log(f"installing {contender.key} into {venv.relative_to(ROOT)}: {requirements}")
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run(
            [base_python, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300
        )
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                *contender.requirements,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.CalledProcessError as error:
        tail = (error.stderr or error.stdout or str(error)).strip().splitlines()[-3:]
        return None, "could not be installed: " + " / ".join(tail)
    except subprocess.TimeoutExpired:
        return None, "could not be installed: pip timed out"
    marker.write_text(wanted)
    return str(python), ""


# -- drivers -------------------------------------------------------------------------------------


def driver_env(contender: Contender, vendor: str) -> dict[str, str]:
    """Environment of a driver (and so of its workers) for one contender and database."""
    paths = [str(BENCH)] if contender.requirements else [str(ROOT), str(BENCH)]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),
        "DJANGO_SETTINGS_MODULE": contender.settings,
        "BENCH_VENDOR": vendor,
        "BENCH_DB_NAME": databases.db_name(vendor, contender.database),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def run_driver(
    python: str, contender: Contender, vendor: str, workload: str, args: list[str], timeout: float
) -> dict[str, Any]:
    """Run bench/driver.py for one workload; its JSON result, or {"error": ...}."""
    command = [python, str(BENCH / "driver.py"), workload, "--adapter", contender.adapter, *args]
    process = subprocess.Popen(
        command,
        cwd=WORK,
        env=driver_env(contender, vendor),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # the driver stops its workers on SIGTERM
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        return {"error": f"timed out after {timeout:.0f}s"}
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = [line for line in stderr.strip().splitlines() if line.strip()][-1:]
    return {"error": f"driver exited {process.returncode}: {' '.join(tail)[:300]}"}


def workload_runs(contender: Contender, plan: Plan) -> list[tuple[str, int, list[str]]]:
    """(workload, workers, driver arguments) for one contender."""
    jobs, samples, pipelines = plan.jobs, plan.samples, max(1, plan.jobs // 3)
    if contender.slow:
        # About one step per second per worker: a few jobs measure it well enough.
        jobs, pipelines, samples = min(jobs, 8), min(pipelines, 3), min(samples, 8)
    elif contender.requirements:
        # Peers that poll need about one poll interval per sample.
        samples = min(samples, 15)
    common = ["--repeat", str(plan.repeat), "--timeout", str(plan.timeout)]
    runs: list[tuple[str, int, list[str]]] = []
    if "drain" in plan.workloads:
        for workers in (1, 2):
            runs.append(("drain", workers, ["--jobs", str(jobs), "--workers", str(workers)]))
    if "pipeline" in plan.workloads:
        runs.append(("pipeline", 2, ["--jobs", str(pipelines), "--workers", "2"]))
    if "latency" in plan.workloads:
        runs.append(("latency", 1, ["--samples", str(samples)]))
    if "enqueue" in plan.workloads:
        runs.append(("enqueue", 0, ["--jobs", str(plan.jobs), "--bulk-jobs", str(plan.bulk_jobs)]))
    if "history" in plan.workloads and contender.history and plan.history_rows:
        runs.append(
            (
                "history",
                2,
                [
                    "--jobs",
                    str(plan.jobs),
                    "--workers",
                    "2",
                    "--history-rows",
                    str(plan.history_rows),
                ],
            )
        )
    if "backlog" in plan.workloads and contender.history and plan.backlog_rows:
        runs.append(
            (
                "backlog",
                2,
                [
                    "--jobs",
                    str(plan.jobs),
                    "--workers",
                    "2",
                    "--backlog-rows",
                    str(plan.backlog_rows),
                ],
            )
        )
    if "io" in plan.workloads and contender.threads and plan.io_jobs:
        runs.append(("io", IO_SLOTS, ["--jobs", str(plan.io_jobs), "--threads", str(IO_SLOTS)]))
    return [(name, workers, [*args, *common]) for name, workers, args in runs]


def record(
    plan: Plan, contender: Contender, vendor: str, workload: str, workers: int, **data: Any
) -> None:
    """Keep one result."""
    plan.results.append(
        {
            "contender": contender.key,
            "vendor": vendor,
            "workload": workload,
            "workers": workers,
            **data,
        }
    )


def bench_contender(python: str, contender: Contender, vendor: str, plan: Plan) -> dict[str, Any]:
    """All workloads of one contender on one database; returns the driver's info."""
    label = f"{databases.LABELS[vendor]} {contender.key}"
    try:
        databases.recreate(vendor, contender.database)
    except Exception as error:  # noqa: BLE001 - any failure to reach the server is reported
        log(f"{label}: database unavailable: {error}")
        for workload, workers, _ in workload_runs(contender, plan):
            record(
                plan, contender, vendor, workload, workers, error=f"database unavailable: {error}"
            )
        return {}
    try:
        setup = run_driver(python, contender, vendor, "setup", [], 300)
        info = run_driver(python, contender, vendor, "info", [], 120)
        if "error" in setup:
            log(f"{label}: setup failed: {setup['error']}")
        for workload, workers, args in workload_runs(contender, plan):
            if "error" in setup:
                record(plan, contender, vendor, workload, workers, error="setup: " + setup["error"])
                continue
            started = time.monotonic()
            timeout = 2400 if workload in ("history", "backlog") else 1200
            log_name = f"{contender.key}-{vendor}-{workload}-{workers}w"
            args = [*args, "--log-name", log_name]
            result = run_driver(python, contender, vendor, workload, args, timeout)
            seconds = time.monotonic() - started
            record(plan, contender, vendor, workload, workers, args=args, seconds=seconds, **result)
            log(f"{label} {workload} ({workers}w): {report.summary(result)} [{seconds:.0f}s]")
        return {**info.get("extra", {}), **setup.get("extra", {})}
    finally:
        try:
            databases.drop(vendor, contender.database)
        except Exception as error:  # noqa: BLE001
            log(f"{label}: could not drop {contender.database}: {error}")


# -- main ----------------------------------------------------------------------------------------


def merge(earlier: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """``now`` plus the results and server facts of databases it did not run from ``earlier``."""
    kept = [vendor for vendor in earlier["vendors"] if vendor not in now["vendors"]]
    order = [v for v in databases.VENDORS if v in {*kept, *now["vendors"]}]
    sources = earlier.get("sources") or {
        v: {"date": earlier["date"], "git": earlier["git"]} for v in earlier["vendors"]
    }
    return {
        **now,
        "vendors": order,
        "contenders": list(dict.fromkeys([*now["contenders"], *earlier["contenders"]])),
        "infos": {**{v: earlier["infos"].get(v, {}) for v in kept}, **now["infos"]},
        "results": [r for r in earlier["results"] if r["vendor"] in kept] + now["results"],
        "sources": {**{v: sources[v] for v in kept}, **now["sources"]},
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql,mariadb",
        help="comma-separated: sqlite,postgresql,mariadb",
    )
    parser.add_argument(
        "--peers", action=argparse.BooleanOptionalAction, default=True, help="also run the peers"
    )
    parser.add_argument(
        "--peer-list",
        default=",".join(peer.key for peer in PEERS),
        help="which peers (default: all of %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="small counts, one run: a smoke test")
    parser.add_argument("--jobs", type=int, help="jobs per drain (default 2000; quick 500)")
    parser.add_argument("--bulk-jobs", type=int, help="jobs per bulk enqueue (20000; quick 2000)")
    parser.add_argument("--samples", type=int, help="pickup latency samples (50; quick 10)")
    parser.add_argument("--repeat", type=int, help="runs of each measurement (3; quick 1)")
    parser.add_argument(
        "--history-rows",
        type=int,
        help="finished jobs for the history case (1000000; quick 20000; 0 skips)",
    )
    parser.add_argument(
        "--backlog-rows",
        type=int,
        help="waiting jobs for the deep backlog case (100000; quick 10000; 0 skips)",
    )
    parser.add_argument(
        "--io-jobs",
        type=int,
        help="jobs per I/O-bound drain, each step a 10 ms sleep (400; quick 200; 0 skips)",
    )
    parser.add_argument(
        "--workloads",
        default="drain,pipeline,latency,enqueue,history,backlog,io",
        help="comma-separated subset of drain,pipeline,latency,enqueue,history,backlog,io "
        "(io: django_dbq only, 1 worker thread vs --concurrency 8 vs 8 processes)",
    )
    parser.add_argument("--output", default=str(BENCH / "RESULTS.md"), help="the results table")
    parser.add_argument(
        "--json", default=str(WORK / "results.json"), help="raw results (every sample), as JSON"
    )
    parser.add_argument(
        "--python", default=sys.executable, help="Python that runs this tree's django_dbq"
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds any single wait may take"
    )
    parser.add_argument(
        "--report-from",
        metavar="JSON",
        help="measure nothing: only write the table again from an earlier run's raw JSON",
    )
    parser.add_argument(
        "--merge",
        metavar="JSON",
        help="keep the results of databases this run skips from an earlier run's raw JSON "
        "(e.g. re-run one database: --databases mariadb --merge bench/work/results.json)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any measurement of this tree failed (for CI; numbers are not judged)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the results table."""
    options = parse_args(argv)
    if options.report_from:
        Path(options.output).write_text(
            report.render(json.loads(Path(options.report_from).read_text()))
        )
        log(f"wrote {options.output} from {options.report_from}")
        return 0
    quick = options.quick

    def pick(value: int | None, full: int, small: int) -> int:
        return value if value is not None else (small if quick else full)

    plan = Plan(
        jobs=pick(options.jobs, 2000, 500),
        bulk_jobs=pick(options.bulk_jobs, 20000, 2000),
        samples=pick(options.samples, 50, 10),
        repeat=pick(options.repeat, 3, 1),
        history_rows=pick(options.history_rows, 1_000_000, 20_000),
        backlog_rows=pick(options.backlog_rows, 100_000, 10_000),
        io_jobs=pick(options.io_jobs, 400, 200),
        workloads=tuple(options.workloads.split(",")),
        timeout=options.timeout,
    )
    vendors = [vendor.strip() for vendor in options.databases.split(",") if vendor.strip()]
    unknown = set(vendors) - set(databases.VENDORS)
    if unknown:
        print(f"unknown databases: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    peer_keys = options.peer_list.split(",") if options.peers else []
    peers = [peer for peer in PEERS if peer.key in peer_keys]
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tree_at_start = machine.git_revision(ROOT)
    log(
        f"plan: databases={','.join(vendors)} peers={','.join(p.key for p in peers) or 'none'} "
        f"jobs={plan.jobs} io_jobs={plan.io_jobs} repeat={plan.repeat}"
    )

    pythons: dict[str, str] = {OURS.key: options.python}
    skipped: dict[str, str] = {}
    for peer in peers:
        python, why = ensure_venv(peer, options.python)
        if python:
            pythons[peer.key] = python
        else:
            skipped[peer.key] = why
            log(f"{peer.key}: {why}")

    infos: dict[str, dict[str, dict[str, Any]]] = {}
    for vendor in vendors:
        for contender in (OURS, *peers):
            if vendor not in contender.vendors or contender.key in skipped:
                continue
            infos.setdefault(vendor, {})[contender.key] = bench_contender(
                pythons[contender.key], contender, vendor, plan
            )

    elapsed = time.monotonic() - started
    context = {
        "machine": machine.describe(),
        "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed_seconds": elapsed,
        "git": tree_at_start
        if machine.git_revision(ROOT) == tree_at_start
        else f"{tree_at_start} at the start, {machine.git_revision(ROOT)} at the end",
        "plan": {k: v for k, v in vars(plan).items() if k != "results"},
        "vendors": vendors,
        "contenders": [OURS.key, *(peer.key for peer in peers)],
        "all_peers": [peer.key for peer in PEERS],
        "skipped": skipped,
        "infos": infos,
        "requirements": {peer.key: list(peer.requirements) for peer in PEERS},
        "peer_vendors": {peer.key: list(peer.vendors) for peer in PEERS},
        "results": plan.results,
    }
    context["sources"] = {v: {"date": context["date"], "git": context["git"]} for v in vendors}
    if options.merge:
        context = merge(json.loads(Path(options.merge).read_text()), context)
    Path(options.json).parent.mkdir(parents=True, exist_ok=True)
    Path(options.json).write_text(json.dumps(context, indent=1))
    Path(options.output).write_text(report.render(context))
    log(f"wrote {options.output} and {options.json} in {elapsed / 60:.1f} min")
    failures = [r for r in plan.results if r["contender"] == OURS.key and "error" in r]
    for failure in failures:
        log(f"FAILED {failure['vendor']} {failure['workload']}: {failure['error']}")
    return 1 if options.strict and failures else 0


if __name__ == "__main__":
    sys.exit(main())
