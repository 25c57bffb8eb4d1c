"""What every workload of the driver shares: its error, emptying the tables, timing a call."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

# The driver prints its result as one line with this prefix; driver_runs.py picks it out.
RESULT_PREFIX = "BENCH_RESULT "


class BenchError(Exception):
    """A measurement could not be made; the message goes into the results table."""


def reset(adapter: Any) -> None:
    """Empty the contender's tables."""
    from django.db import connection

    tables = [connection.ops.quote_name(table) for table in adapter.tables]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        elif connection.vendor == "mysql":
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            for table in tables:
                cursor.execute(f"TRUNCATE TABLE {table}")
            cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")


def timed(function: Callable[[], Any]) -> float:
    """Seconds ``function`` takes."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started
