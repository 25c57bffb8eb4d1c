#!/usr/bin/env python
"""Benchmark django_dbq against its peers on SQLite, PostgreSQL and MariaDB, in one run.

    python bench/run.py                      # everything, 3 runs each, peers included
    python bench/run.py --quick --no-peers   # a small smoke run (about two minutes)

Measures drain (1 and 2 worker processes), three-step pipelines, pickup latency (median, p95),
CPU per job of a worker and of the database (PostgreSQL),
enqueue (one by one and bulk), draining with a large history of finished jobs or off a deep
backlog, and (django_dbq only) draining I/O-bound jobs with 1 worker thread, 8 threads in one
process (--concurrency 8) or 8 processes, and draining under concurrency keys and a rate limit;
repeats each measurement and writes medians and spreads to bench/RESULTS.md. Run it with a
Python that has django_dbq's dependencies (``pip install -e '.[postgresql,mysql]'``). Peers are
installed from PyPI into their own virtual environments under bench/work/venvs/. See
docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import databases, machine, report  # noqa: E402
from benchlib.contenders import OURS, PEERS  # noqa: E402
from benchlib.driver_runs import bench_contender  # noqa: E402
from benchlib.paths import BENCH, ROOT, WORK  # noqa: E402
from benchlib.peer_venvs import ensure_venv  # noqa: E402
from benchlib.plan import Plan  # noqa: E402
from benchlib.progress import log  # noqa: E402


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


def shown_arguments(argv: list[str] | None) -> list[str]:
    """The command line for the report, without --note (the header shows the note itself)."""
    arguments = list(argv if argv is not None else sys.argv[1:])
    if "--note" in arguments:
        index = arguments.index("--note")
        del arguments[index : index + 2]
    return [a for a in arguments if not a.startswith("--note=")]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
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
    parser.add_argument(
        "--enqueue-jobs", type=int, help="jobs enqueued one by one (default: --jobs)"
    )
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
        default="drain,pipeline,latency,enqueue,history,backlog,io,flow,cpu",
        help="comma-separated subset of drain,pipeline,latency,enqueue,history,backlog,io,flow,cpu "
        "(io: django_dbq only, 1 worker thread vs --concurrency 8 vs 8 processes; flow: "
        "django_dbq only, drains under concurrency keys and a rate limit; cpu: PostgreSQL only, "
        "CPU per job of one worker process and of its database backends)",
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
        "--note",
        default="",
        help="a sentence for the results header, e.g. that other work shared the machine",
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

    jobs = pick(options.jobs, 2000, 500)
    plan = Plan(
        jobs=jobs,
        enqueue_jobs=options.enqueue_jobs if options.enqueue_jobs is not None else jobs,
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
        "command": "python bench/run.py " + " ".join(shown_arguments(argv)),
        "note": options.note,
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
