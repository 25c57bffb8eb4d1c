"""The cost of the claim's pause conditions: drain rate with them and with them swapped out.

    DATABASE_URL=postgres://... N=3000 ROUNDS=5 python bench/pause_cost.py

Migrates the database of DATABASE_URL (default SQLite) with the test settings, then drains N
one-step jobs with testing.drain(), alternating the real claim with one whose NOT EXISTS
conditions are replaced by a trivially true condition on the same parameters; prints the
median rates and their ratio. Nothing is paused: this is the cost of the feature when unused.
"""

import os
import statistics
import sys
import time
from pathlib import Path


def drain_rate(jobs: int) -> float:
    """Jobs per second of one drain of ``jobs`` fresh one-step jobs."""
    from django_dbq.models import Job
    from django_dbq.testing import drain

    Job.objects.all().delete()
    Job.objects.enqueue_many([Job(name="basic") for _ in range(jobs)])
    started = time.perf_counter()
    drain(max_steps=jobs + 10)
    elapsed = time.perf_counter() - started
    assert not Job.objects.exclude(state="COMPLETED").exists()
    return jobs / elapsed


def unpaused(ops, queue: str) -> str:
    """A condition that is always true and takes the same two parameters."""
    return f"({queue} IS NOT NULL AND {queue} IS NOT NULL)"


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testsettings")
    import django

    django.setup()
    from django.core.management import call_command

    from django_dbq.engine import base, mysql, returning

    call_command("migrate", verbosity=0)
    jobs, rounds = int(os.environ.get("N", 3000)), int(os.environ.get("ROUNDS", 5))
    rates: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(rounds):
        for label, condition in (("with", base.not_paused_sql), ("without", unpaused)):
            returning.not_paused_sql = mysql.not_paused_sql = condition
            rates[label].append(drain_rate(jobs))
    for label, values in rates.items():
        print(label, "median jobs/s", round(statistics.median(values)), [round(v) for v in values])
    ratio = statistics.median(rates["with"]) / statistics.median(rates["without"])
    print("ratio with/without", round(ratio, 3))


if __name__ == "__main__":
    main()
