"""Run bench/driver.py with a contender's Python, one workload at a time, on a scratch database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any

from . import databases
from .contenders import Contender
from .measurement import RESULT_PREFIX
from .paths import BENCH, ROOT, WORK
from .plan import Plan, record, workload_runs
from .progress import log, summary


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
            log(f"{label} {workload} ({workers}w): {summary(result)} [{seconds:.0f}s]")
        return {**info.get("extra", {}), **setup.get("extra", {})}
    finally:
        try:
            databases.drop(vendor, contender.database)
        except Exception as error:  # noqa: BLE001
            log(f"{label}: could not drop {contender.database}: {error}")
