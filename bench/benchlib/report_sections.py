"""The report's prose below its tables: the claim's plans, how each contender ran (stdlib only)."""

from __future__ import annotations

from .databases import LABELS
from .results import NAMES, Results


def claim_sections(results: Results) -> list[str]:
    """The claim query's plans with a large history and off a deep backlog, per database."""
    context = results.context
    lines = [
        "",
        "## The claim query with a large history",
        "",
        "The history case fills the job table with finished jobs (99% COMPLETED, 1% FAILED, one "
        "queue), runs ANALYZE, enqueues the drain's jobs, captures the claim statement as the "
        "engine sends it and asks the database for its plan (PostgreSQL: EXPLAIN ANALYZE inside a "
        "rolled-back transaction).",
    ]
    for vendor in context["vendors"]:
        history = results.result("django_dbq", vendor, "history", 2)
        if not history or "extra" not in history:
            continue
        extra = history["extra"]
        explain = extra.get("explain", {})
        lines += [
            "",
            f"### {LABELS[vendor]}: {extra.get('history_rows', 0):,} finished jobs "
            f"(inserted in {extra.get('insert_seconds', 0):.1f} s)",
            "",
            "```sql",
            explain.get("sql", ""),
            "```",
            "",
            "```",
            explain.get("plan", ""),
            "```",
        ]

    lines += [
        "",
        "## The claim query with a deep backlog",
        "",
        "Not one of the issue's targets, but the same question from the other side: with many "
        "jobs waiting, does a claim read only the few it takes, or sort the whole queue every "
        "time? The drain takes its jobs off the front of the backlog (rate in the tables above).",
    ]
    for vendor in context["vendors"]:
        backlog = results.result("django_dbq", vendor, "backlog", 2)
        if not backlog or "extra" not in backlog:
            continue
        extra = backlog["extra"]
        empty = results.median("django_dbq", vendor, "drain", 2, "rate")
        deep = results.median("django_dbq", vendor, "backlog", 2, "rate")
        versus = f"; drain {deep / empty - 1:+.0%} against an empty queue" if empty and deep else ""
        lines += [
            "",
            f"### {LABELS[vendor]}: {extra.get('backlog_rows', 0):,} jobs waiting{versus}",
            "",
            "```",
            extra.get("explain", {}).get("plan", ""),
            "```",
        ]
    return lines


def io_note(results: Results) -> list[str]:
    """The bullet explaining the I/O-bound rows, from the first database that ran them."""
    for vendor in results.context["vendors"]:
        extra = (results.result("django_dbq", vendor, "io", 8) or {}).get("extra")
        if extra:
            break
    else:
        return []
    return [
        f"- I/O-bound drain (django_dbq only; the peers are run with one job at a time): "
        f"{extra['jobs']:,} jobs whose one step sleeps {extra['step_seconds'] * 1000:g} ms (an "
        "HTTP call's wait), drained by one `worker --burst --concurrency 1`, one with "
        f"`--concurrency {extra['threads']}`, and {extra['threads']} processes with "
        "`--concurrency 1`. Start gates (a job per worker slot, claimed first, that waits until "
        "every slot holds one) keep process start-up out of the rate. Peak RSS is each worker "
        "process's own `ru_maxrss`, added up over the processes.",
    ]


def flow_note(results: Results) -> list[str]:
    """The bullet explaining the flow control rows, from the first database that ran them."""
    for vendor in results.context["vendors"]:
        extra = (results.result("django_dbq", vendor, "flow", 2) or {}).get("extra")
        if extra:
            break
    else:
        return []
    return [
        f"- Flow control (django_dbq only): {extra['jobs']:,} no-op jobs drained by 2 workers in "
        "four cases that alternate within each run: plain jobs (no limit declared anywhere: the "
        "claim is the ordinary one); the same plain jobs while JOBS declares limits for other "
        "jobs (the ordinary claim then skips keyed rows, and a keyed claim runs first); jobs "
        f"with `concurrency: {{'key': ['k'], 'limit': 1}}` round robin over {extra['keys']} "
        "keys; jobs under a job-wide `rate_limit: '1000/s'` (above the drain rate: this "
        "measures the bookkeeping, one step per claim, not the limit).",
    ]


def method_section(results: Results) -> list[str]:
    """How each contender ran: settings, what was timed, commands, and counts off the plan."""
    context = results.context
    plan = context["plan"]
    lines = ["", "## How each contender ran", ""]
    lines += [
        "- Every contender gets the same Django settings: DEBUG off, persistent connections "
        "(CONN_MAX_AGE=None), SQLite in WAL mode with synchronous=NORMAL and IMMEDIATE "
        "transactions, and the same no-op task. Workers are separate `manage.py` processes "
        "(pgqueuer's: `pgq run`); their output goes to bench/work/logs/.",
        "- Drain: enqueue first, then start the workers; the rate counts from the first finished "
        "job the driver sees (polling every 10 ms) to the last, so process start-up is left out "
        "(the wall-clock row includes it).",
        "- Pickup latency: one idle worker; the driver enqueues one probe job at a time and the "
        "task reports the time it started over UDP; latency = start − the moment just before the "
        "enqueue's COMMIT. Pauses between probes are spread over a whole poll interval for "
        "workers that poll.",
        "- django_dbq (this tree): `manage.py worker --burst` to drain, `manage.py worker` for "
        "latency; `Job.objects.create` one by one, `Job.objects.enqueue_many` in bulk.",
        *io_note(results),
        *flow_note(results),
    ]
    notes = {
        "dbq3": "`manage.py worker` (no burst mode: stopped with SIGTERM once drained; it sleeps "
        "1 s before each step); `Job.objects.create`; no bulk API.",
        "tasks_db": "`manage.py db_worker --no-startup-delay` (`--batch` to drain; "
        "--no-startup-delay favours it); `task.enqueue()`; no bulk API; polls every 1 s "
        "(its default).",
        "procrastinate": "`manage.py procrastinate worker` (`--one-shot` to drain), default "
        "concurrency (1); `task.defer()`, `task.batch_defer()` in bulk; LISTEN/NOTIFY.",
        "pgqueuer": "not Django: `pgq run` with a QueueManager on one asyncpg connection (uvloop), "
        "`--batch-size 50`, no concurrency limit, durable tables, `pgq autovac` applied "
        "(`--mode drain` to drain); async no-op entrypoints; `Queries.enqueue(name, None)` one "
        "by one and `Queries.enqueue([...])` in bulk over asyncpg; LISTEN/NOTIFY. Why these "
        "settings: bench/peers/pgqueuer_peer/adapter.py.",
    }
    for workload, flag, default, text in (
        ("enqueue", "--jobs", plan["jobs"], "jobs enqueued one by one"),
        ("latency", "--samples", plan["samples"], "pickup latency samples per run"),
    ):
        counts: dict[str, set[int]] = {}
        for r in context["results"]:
            args = r.get("args", [])
            if r["workload"] == workload and flag in args:
                counts.setdefault(r["contender"], set()).add(int(args[args.index(flag) + 1]))
        for key, values in counts.items():
            if values != {default}:
                shown = " or ".join(f"{value:,}" for value in sorted(values))
                lines.append(f"- {NAMES.get(key, key)}: {shown} {text}.")
    for key in context["all_peers"]:
        requirement = " ".join(context["requirements"].get(key, []))
        if key in context["skipped"]:
            lines.append(f"- {NAMES[key]}: not run, {context['skipped'][key]}")
        elif key in context["contenders"]:
            lines.append(f"- {NAMES[key]} (`pip install {requirement}`): {notes[key]}")
        else:
            lines.append(f"- {NAMES[key]}: not run (--no-peers or --peer-list).")
    return lines
