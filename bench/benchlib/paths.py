"""Where the benchmark lives: bench/, the repository root and bench/work/ (stdlib only)."""

from __future__ import annotations

from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
# Scratch space (git-ignored): SQLite files, worker logs, the peers' virtual environments.
WORK = BENCH / "work"
