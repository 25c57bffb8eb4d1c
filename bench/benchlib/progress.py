"""The orchestrator's progress log on stderr: what it is doing, and each result in one line."""

from __future__ import annotations

import datetime
import statistics
import sys
from typing import Any


def log(message: str) -> None:
    """Progress on stderr, with the time of day."""
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def summary(result: dict[str, Any]) -> str:
    """One line for the progress log."""
    if "error" in result:
        return "ERROR " + result["error"]
    parts = []
    for name, values in result.get("metrics", {}).items():
        if values:
            parts.append(f"{name}={statistics.median(values):,.1f}")
    unsupported = result.get("extra", {}).get("unsupported", {})
    parts += [f"{name}=n/a" for name in unsupported]
    return " ".join(parts) or "ok"
