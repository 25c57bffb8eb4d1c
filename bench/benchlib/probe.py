"""The pickup-latency probe: a task sends the time it started to the driver over UDP.

UDP on the loopback interface costs a few microseconds, needs no polling by the driver and works
the same from every contender's worker, so all of them are timed by the same clock (one machine).
"""

from __future__ import annotations

import os
import socket
import time

PORT_VARIABLE = "BENCH_PROBE_PORT"

_socket: socket.socket | None = None


def report_start(sample: int) -> None:
    """Send ``sample`` and the current time to the driver (a no-op when no driver listens)."""
    global _socket
    now = time.time()
    port = os.environ.get(PORT_VARIABLE)
    if not port:
        return
    if _socket is None:
        _socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _socket.sendto(f"{sample} {now!r}".encode(), ("127.0.0.1", int(port)))
