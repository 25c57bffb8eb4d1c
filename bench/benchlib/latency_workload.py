"""The driver's pickup-latency workload: from an enqueue's commit to the start of its task.

The probe task reports its start over UDP (benchlib/probe.py); the driver listens here.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import time
from typing import Any

from .measurement import BenchError, reset
from .workers import Workers


def receive_sample(sock: socket.socket, sample: int, timeout: float) -> float:
    """The start time a probe task reported for ``sample``."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"probe {sample} did not start within {timeout:.0f}s")
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(256)
        except TimeoutError:
            continue
        number, started = data.decode().split()
        if int(number) == sample:
            return float(started)


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile by linear interpolation (fraction=0.95 for p95)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def workload_latency(adapter: Any, options: argparse.Namespace) -> dict[str, Any]:
    """An idle worker; enqueue one probe at a time and time commit -> task start."""
    medians, p95s, raw = [], [], []
    for repeat in range(options.repeat):
        reset(adapter)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        env = {"BENCH_PROBE_PORT": str(sock.getsockname()[1])}
        command = adapter.worker_command(adapter.worker_args(burst=False))
        pool = Workers(command, 1, f"{options.log_name}-r{repeat}", env)
        try:
            # Warm up: the first probe waits for the worker to start; a few more settle it.
            for warm in range(3):
                adapter.enqueue_probe(-1 - warm)
                receive_sample(sock, -1 - warm, 60 if warm == 0 else options.timeout)
            latencies = []
            interval = float(adapter.wakeup_interval)
            for sample in range(options.samples):
                # A pause spread over a whole polling cycle puts each enqueue at a random point
                # of a polling worker's cycle (its previous pickup synchronised the cycle with
                # us); a worker woken by a push just needs to be back in its idle wait.
                time.sleep(
                    random.uniform(0.05, 0.05 + interval) if interval else random.uniform(0.02, 0.1)
                )
                committed = adapter.enqueue_probe(sample)
                started = receive_sample(sock, sample, options.timeout)
                latencies.append((started - committed) * 1000)
        finally:
            pool.stop()
            sock.close()
        medians.append(statistics.median(latencies))
        p95s.append(percentile(latencies, 0.95))
        raw.append([round(value, 3) for value in latencies])
    return {"metrics": {"p50_ms": medians, "p95_ms": p95s}, "extra": {"samples_ms": raw}}
