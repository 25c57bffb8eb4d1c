"""Runs one workload against one contender, inside that contender's virtual environment.

run.py starts this script with the contender's Python, DJANGO_SETTINGS_MODULE and BENCH_*
variables set, and reads one JSON line from its output: for each metric, one value per repeat.
Workers are real ``manage.py`` processes (bench/manage.py) started and stopped from here.

    python bench/driver.py --adapter dbq_project.adapter drain --workers 2 --jobs 2000
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

# benchlib is found next to this script (sys.path[0] is bench/). Its workloads and worker
# processes import Django, and dbq_project, only when they run: inside a peer's virtual
# environment this script, benchlib and the contender's adapter package are all there is.
from benchlib.cpu_workload import workload_cpu
from benchlib.drain_workloads import (
    workload_backlog,
    workload_drain,
    workload_history,
    workload_io,
    workload_pipeline,
)
from benchlib.enqueue_workload import workload_enqueue
from benchlib.flow_workload import workload_flow
from benchlib.latency_workload import workload_latency
from benchlib.measurement import RESULT_PREFIX, BenchError
from benchlib.setup_workloads import workload_info, workload_setup

WORKLOADS: dict[str, Callable[[Any, argparse.Namespace], dict[str, Any]]] = {
    "setup": workload_setup,
    "info": workload_info,
    "drain": workload_drain,
    "pipeline": workload_pipeline,
    "latency": workload_latency,
    "enqueue": workload_enqueue,
    "history": workload_history,
    "backlog": workload_backlog,
    "io": workload_io,
    "flow": workload_flow,
    "cpu": workload_cpu,
}


def main(argv: list[str] | None = None) -> int:
    """Run one workload and print its result as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--adapter", required=True, help="module with ADAPTER, e.g. peers.dbq3")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--bulk-jobs", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8, help="worker slots of the io workload")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    parser.add_argument("--backlog-rows", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per wait")
    parser.add_argument("--log-name", default="worker")
    options = parser.parse_args(argv)

    import django

    # run.py stops a stuck driver with SIGTERM: exit through the finally blocks that stop
    # the workers.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    django.setup()
    adapter = importlib.import_module(options.adapter).ADAPTER()
    try:
        result = WORKLOADS[options.workload](adapter, options)
    except BenchError as error:
        result = {"error": str(error)}
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
