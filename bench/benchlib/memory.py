"""Peak resident memory of worker processes: each writes its own at exit, the driver adds them up.

A process's peak (``ru_maxrss``) is only known to itself or to the parent that reaps it; the
driver's Popen objects reap workers without keeping their resource usage, so each worker writes
its peak into a directory the driver names in BENCH_PEAK_RSS_DIR (bench/manage.py does this).
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

DIRECTORY_VARIABLE = "BENCH_PEAK_RSS_DIR"


def record_peak_rss() -> None:
    """Write this process's peak RSS in KiB to BENCH_PEAK_RSS_DIR/<pid> (no-op when unset)."""
    directory = os.environ.get(DIRECTORY_VARIABLE)
    if not directory:
        return
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    kib = peak // 1024 if sys.platform == "darwin" else peak
    try:
        (Path(directory) / str(os.getpid())).write_text(str(kib))
    except OSError:
        pass  # the driver gave up on this run and removed the directory: nobody will read it


def total_peak_rss_mb(directory: str, processes: int) -> float | None:
    """The peaks of ``processes`` workers added up, in MiB; None unless every one wrote its own."""
    files = list(Path(directory).iterdir())
    if len(files) != processes:
        return None  # a worker was killed before it could write: better no number than half
    return sum(int(path.read_text()) for path in files) / 1024
