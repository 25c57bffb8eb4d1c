"""What machine the benchmark ran on (stdlib only, Linux-first)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1]
    except OSError:
        pass
    return "unknown"


def describe() -> dict[str, Any]:
    """CPU, cores, memory, OS and load average now."""
    memory = _first("/proc/meminfo", "MemTotal")
    try:
        memory = f"{int(memory.split()[0]) / 2**20:.0f} GiB"
    except ValueError:
        pass
    load = load_average()
    return {
        "nproc": os.cpu_count(),
        "cpu": _first("/proc/cpuinfo", "model name"),
        "memory": memory,
        "os": _first("/etc/os-release", "PRETTY_NAME").strip('"'),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg": load,
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def git_revision(root: Path) -> str:
    """Short commit of the working tree, with "+changes" when it has uncommitted edits."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "django_dbq"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}{' + uncommitted changes in django_dbq/' if dirty else ''}" or "unknown"
