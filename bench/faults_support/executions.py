"""The execution log: when each run of a step started and ended, kept outside the database.

Every run of a step, plain or atomic, writes a start line and (whatever happens in the step) an
end line to a file of its process, one write(2) each: no rollback can undo them, a dead
connection cannot lose them, and a SIGKILL loses only the end line of the runs then in flight
(the checks take the time of the kill as their end). The checks read it to count the attempts
of atomic steps (rolled back ones included) and to find a step run twice at once.

    <run> start <job id> <step> <atomic 0|1> <pid> <thread> <time.time()>
    <run> end <time.time()>

No Django here: the conductor reads it, and checks.py judges it.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from pathlib import Path

from .checks import Execution

# A run's name: this process (a pid alone may come back in a long run) and a number.
_PROCESS = f"{os.getpid()}.{uuid.uuid4().hex[:8]}"
_numbers = itertools.count(1)  # next() on it is atomic in CPython: safe across threads


def _write(folder: str, line: str) -> None:
    path = os.path.join(folder, f"executions-{os.getpid()}.log")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        # One write(2) per line: it reaches the kernel at once, so a SIGKILL cannot lose it,
        # and O_APPEND keeps the lines of the process's threads whole.
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def log_start(folder: str, job_id: object, step: str, atomic: bool) -> str:
    """Log that a run of ``step`` starts now; returns the run's name for log_end()."""
    run = f"{_PROCESS}-{next(_numbers)}"
    thread = threading.current_thread().name.replace(" ", "_")
    _write(
        folder,
        f"{run} start {job_id} {step} {int(atomic)} {os.getpid()} {thread} {time.time():.6f}",
    )
    return run


def log_end(folder: str, run: str) -> None:
    """Log that the run named ``run`` ends now."""
    _write(folder, f"{run} end {time.time():.6f}")


def read_executions(folder: Path) -> list[Execution]:
    """Every run logged in ``folder``, with its end when one was logged."""
    starts: dict[str, list[str]] = {}
    ends: dict[str, float] = {}
    for path in sorted(folder.glob("executions-*.log")):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) == 8 and fields[1] == "start":
                starts[fields[0]] = fields[2:]
            elif len(fields) == 3 and fields[1] == "end":
                ends[fields[0]] = float(fields[2])
    return [
        Execution(job_id, step, atomic == "1", int(pid), thread, float(started), ends.get(run))
        for run, (job_id, step, atomic, pid, thread, started) in starts.items()
    ]
