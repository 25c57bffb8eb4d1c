"""The fault-injection run's command line (bench/faults.py)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from django_dbq.management.arguments import non_negative_number as non_negative
from django_dbq.management.arguments import positive_int


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
    concurrency: int
    save_in_step: bool
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
        help="each step sleeps a random time up to this long, in flight (default 0.01); "
        "above --lease-seconds, the heartbeat must keep the leases of running steps",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=1,
        help="worker threads in each worker process: manage.py worker --concurrency N (default 1)",
    )
    parser.add_argument(
        "--save-in-step",
        action="store_true",
        help="atomic steps call job.save() first, so their job's row stays locked until "
        "the step commits (default: they do not)",
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
        concurrency=args.concurrency,
        save_in_step=args.save_in_step,
        max_rescues=args.max_rescues,
        log_dir=args.log_dir,
        keep_logs=args.keep_logs,
    )
