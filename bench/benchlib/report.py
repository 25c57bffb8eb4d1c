"""Render the benchmark's raw results as bench/RESULTS.md (stdlib only)."""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mariadb": "MariaDB"}
NAMES = {
    "django_dbq": "django_dbq (this tree)",
    "dbq3": "django-db-queue",
    "tasks_db": "django-tasks-db",
    "procrastinate": "procrastinate",
}
JOB_TABLE = "django_dbq_job"


@dataclass(frozen=True)
class Row:
    """One line of a per-database table."""

    label: str
    workload: str
    workers: int
    metric: str
    unit: str
    only_ours: bool = False


ROWS = (
    Row("Drain, 1 worker", "drain", 1, "rate", "jobs/s"),
    Row("Drain, 2 workers", "drain", 2, "rate", "jobs/s"),
    Row("Drain, 2 workers, wall clock incl. worker start-up", "drain", 2, "wall_rate", "jobs/s"),
    Row("3-step pipelines, 2 workers", "pipeline", 2, "rate", "steps/s"),
    Row("Pickup latency, median", "latency", 1, "p50_ms", "ms"),
    Row("Pickup latency, p95", "latency", 1, "p95_ms", "ms"),
    Row("Enqueue one by one", "enqueue", 0, "single", "jobs/s"),
    Row("Enqueue in bulk", "enqueue", 0, "bulk", "jobs/s"),
    Row("Enqueue in bulk, schema + creation hook", "enqueue", 0, "bulk_validated", "jobs/s", True),
    Row(
        "Baseline: plain `Model.objects.create`, same row",
        "enqueue",
        0,
        "plain_single",
        "rows/s",
        True,
    ),
    Row("Baseline: plain `bulk_create`, same rows", "enqueue", 0, "plain_bulk", "rows/s", True),
    Row("Drain, 2 workers, with history (see below)", "history", 2, "rate", "jobs/s", True),
    Row("Drain, 2 workers, off a deep backlog (see below)", "backlog", 2, "rate", "jobs/s", True),
    # The io workload (see io_note): one run measures the three cases, keyed by its 8 slots.
    Row("I/O-bound drain, 1 process × 1 thread", "io", 8, "one_thread", "jobs/s", True),
    Row("I/O-bound drain, 1 process × 8 threads", "io", 8, "threads", "jobs/s", True),
    Row("I/O-bound drain, 8 processes × 1 thread", "io", 8, "processes", "jobs/s", True),
    Row("Peak RSS of the workers, 1 process × 1 thread", "io", 8, "one_thread_rss_mb", "MB", True),
    Row("Peak RSS of the workers, 1 process × 8 threads", "io", 8, "threads_rss_mb", "MB", True),
    Row("Peak RSS of the workers, 8 processes (sum)", "io", 8, "processes_rss_mb", "MB", True),
)


def number(value: float, unit: str) -> str:
    """A value for the table: thousands separators for rates, one decimal for small numbers."""
    if unit == "ms" or value < 20:
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def cell(values: list[float], unit: str) -> str:
    """median (min–max), or the value alone for a single run."""
    if not values:
        return "—"
    middle = number(statistics.median(values), unit)
    if len(values) == 1:
        return middle
    return f"{middle} ({number(min(values), unit)}–{number(max(values), unit)})"


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


class Results:
    """Look-ups over the raw results."""

    def __init__(self, context: dict[str, Any]):
        self.context = context
        self.by_key = {
            (r["contender"], r["vendor"], r["workload"], r["workers"]): r
            for r in context["results"]
        }

    def result(self, contender: str, vendor: str, workload: str, workers: int) -> dict | None:
        return self.by_key.get((contender, vendor, workload, workers))

    def values(
        self, contender: str, vendor: str, workload: str, workers: int, metric: str
    ) -> list[float]:
        result = self.result(contender, vendor, workload, workers) or {}
        return result.get("metrics", {}).get(metric, [])

    def median(
        self, contender: str, vendor: str, workload: str, workers: int, metric: str
    ) -> float | None:
        values = self.values(contender, vendor, workload, workers, metric)
        return statistics.median(values) if values else None

    def cell(self, contender: str, vendor: str, row: Row) -> str:
        if row.only_ours and contender != "django_dbq":
            return ""
        if vendor not in self.context["peer_vendors"].get(contender, [vendor]):
            return "— (PostgreSQL only)"
        if contender in self.context["skipped"]:
            return "not run"
        result = self.result(contender, vendor, row.workload, row.workers)
        if result is None:
            return "not measured"
        if "error" in result:
            return "error: " + _short(result["error"])
        unsupported = result.get("extra", {}).get("unsupported", {})
        if row.metric in unsupported:
            return f"n/a ({unsupported[row.metric]})"
        values = result.get("metrics", {}).get(row.metric, [])
        text = cell(values, row.unit)
        if (
            row.workload == "pipeline"
            and values
            and not result.get("extra", {}).get("native_pipelines", True)
        ):
            text += " ¹"
        return text


def _short(text: str, limit: int = 80) -> str:
    text = text.replace("|", "/").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plan_uses_index(vendor: str, plan: str) -> bool:
    """Whether the claim's plan reads the job table through an index (no full scan)."""
    if vendor == "postgresql":
        return f"Seq Scan on {JOB_TABLE}" not in plan and "Index" in plan
    if vendor == "mariadb":
        for line in plan.splitlines():
            if f"table={JOB_TABLE}" in line and ("type=ALL" in line or "key=None" in line):
                return False
        return "key=" in plan
    for line in plan.splitlines():
        if re.search(rf"\bSCAN {JOB_TABLE}\b", line) and "INDEX" not in line:
            return False
    return "INDEX" in plan


def poll_interval_ms(context: dict[str, Any], vendor: str) -> float:
    """django_dbq's poll interval in this run, in ms."""
    notes = context["infos"].get(vendor, {}).get("django_dbq", {}).get("notes", {})
    return float(notes.get("DBQ_POLL_INTERVAL", 0.5)) * 1000


def targets(results: Results) -> list[tuple[str, str, str, str]]:
    """(target, goal, measured, met) rows for django_dbq, for the databases that ran."""
    context = results.context
    vendors = context["vendors"]
    rows: list[tuple[str, str, str, str]] = []

    def add(target: str, goal: str, measured: float | None, ok: Callable[[float], bool], unit: str):
        if measured is None:
            rows.append((target, goal, "not measured", "?"))
        else:
            rows.append(
                (
                    target,
                    goal,
                    f"{number(measured, unit)} {unit}",
                    "yes" if ok(measured) else "**no**",
                )
            )

    m = results.median
    if "postgresql" in vendors:
        pg = "postgresql"
        add(
            "PostgreSQL drain, 1 worker",
            "≥ 900 jobs/s",
            m("django_dbq", pg, "drain", 1, "rate"),
            lambda v: v >= 900,
            "jobs/s",
        )
        add(
            "PostgreSQL drain, 2 workers",
            "≥ 1,500 jobs/s",
            m("django_dbq", pg, "drain", 2, "rate"),
            lambda v: v >= 1500,
            "jobs/s",
        )
        add(
            "PostgreSQL 3-step pipelines, 2 workers",
            "≥ 1,500 steps/s",
            m("django_dbq", pg, "pipeline", 2, "rate"),
            lambda v: v >= 1500,
            "steps/s",
        )
        add(
            "PostgreSQL pickup latency, median (LISTEN/NOTIFY)",
            "< 3 ms",
            m("django_dbq", pg, "latency", 1, "p50_ms"),
            lambda v: v < 3,
            "ms",
        )
    for vendor in ("sqlite", "mariadb"):
        if vendor in vendors:
            interval = poll_interval_ms(context, vendor)
            add(
                f"{LABELS[vendor]} pickup latency, p95",
                f"≤ poll interval ({interval:,.0f} ms)",
                m("django_dbq", vendor, "latency", 1, "p95_ms"),
                lambda v, interval=interval: v <= interval,
                "ms",
            )
    for vendor in vendors:
        single = m("django_dbq", vendor, "enqueue", 0, "single")
        plain = m("django_dbq", vendor, "enqueue", 0, "plain_single")
        ratio = single / plain if single and plain else None
        if ratio is None:
            rows.append(
                (
                    f"{LABELS[vendor]} enqueue one by one",
                    "as fast as plain create",
                    "not measured",
                    "?",
                )
            )
        else:
            rows.append(
                (
                    f"{LABELS[vendor]} enqueue one by one",
                    "as fast as plain create (≥ 95%)",
                    f"{number(single, 'jobs/s')} jobs/s = {ratio:.0%} of plain",
                    "yes" if ratio >= 0.95 else "**no**",
                )
            )
        add(
            f"{LABELS[vendor]} bulk enqueue (`enqueue_many`)",
            "≥ 20,000 jobs/s",
            m("django_dbq", vendor, "enqueue", 0, "bulk"),
            lambda v: v >= 20000,
            "jobs/s",
        )
    for vendor in vendors:
        history = results.result("django_dbq", vendor, "history", 2)
        empty = m("django_dbq", vendor, "drain", 2, "rate")
        full = m("django_dbq", vendor, "history", 2, "rate")
        rows_count = history.get("extra", {}).get("history_rows") if history else None
        label = (
            f"{LABELS[vendor]} drain with {rows_count:,} finished jobs"
            if rows_count
            else f"{LABELS[vendor]} drain with history"
        )
        if full is None or empty is None:
            rows.append((label, "within 10% of empty table", "not measured", "?"))
        else:
            change = full / empty - 1
            rows.append(
                (
                    label,
                    "within 10% of empty table",
                    f"{number(full, 'jobs/s')} jobs/s ({change:+.0%})",
                    "yes" if change >= -0.10 else "**no**",
                )
            )
        explain = (history or {}).get("extra", {}).get("explain", {})
        plan = explain.get("plan")
        if plan:
            examined = explain.get("examined", 0)
            if not plan_uses_index(vendor, plan):
                verdict, ok = "full scan", False
            elif examined > 100_000:
                # MariaDB's estimate of the rows the claim reads, and so locks.
                verdict, ok = f"index, but reads ~{examined:,} rows", False
            else:
                verdict, ok = "index", True
            label = f"{LABELS[vendor]} claim uses an index"
            rows.append((label, "index, reads few rows", verdict, "yes" if ok else "**no**"))
    if "sqlite" in vendors:
        best = max(
            (
                v
                for peer in context["contenders"][1:]
                if (v := m(peer, "sqlite", "drain", 1, "rate"))
            ),
            default=None,
        )
        ours = m("django_dbq", "sqlite", "drain", 1, "rate")
        if best and ours:
            rows.append(
                (
                    "SQLite drain, 1 worker, vs best peer",
                    "≥ 2× best peer",
                    f"{ours / best:.1f}× ({number(best, 'jobs/s')} jobs/s)",
                    "yes" if ours >= 2 * best else "**no**",
                )
            )
        else:
            rows.append(
                (
                    "SQLite drain, 1 worker, vs best peer",
                    "≥ 2× best peer",
                    "peers not measured",
                    "?",
                )
            )
    if "mariadb" in vendors:
        dbq3 = m("dbq3", "mariadb", "drain", 2, "rate")
        ours = m("django_dbq", "mariadb", "drain", 2, "rate")
        if dbq3 and ours:
            rows.append(
                (
                    "MariaDB drain, 2 workers, vs django-db-queue 3.3",
                    "≥ 3×",
                    f"{ours / dbq3:,.0f}×",
                    "yes" if ours >= 3 * dbq3 else "**no**",
                )
            )
        else:
            rows.append(
                (
                    "MariaDB drain, 2 workers, vs django-db-queue 3.3",
                    "≥ 3×",
                    "peer not measured",
                    "?",
                )
            )
    return rows


def lead(results: Results, vendor: str, row: Row, peers: list[str]) -> str:
    """How many times better django_dbq's median is than the best peer's (latency: lower)."""
    if row.only_ours:
        return ""
    ours = results.median("django_dbq", vendor, row.workload, row.workers, row.metric)
    theirs = [
        value
        for peer in peers
        if (value := results.median(peer, vendor, row.workload, row.workers, row.metric))
    ]
    if not ours or not theirs:
        return ""
    if row.unit == "ms":
        return f"{min(theirs) / ours:,.1f}×"
    return f"{ours / max(theirs):,.1f}×"


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


def contender_name(context: dict[str, Any], key: str) -> str:
    """Display name with the installed version."""
    versions = [info.get(key, {}).get("contender_version") for info in context["infos"].values()]
    version = next((v for v in versions if v), "")
    return f"{NAMES.get(key, key)} {version}".strip()


def _sources(context: dict[str, Any]) -> list[str]:
    """A line saying when each database was measured, when runs were merged."""
    sources = context.get("sources", {})
    if len({(s["date"], s["git"]) for s in sources.values()}) <= 1:
        return []
    parts = [
        f"{LABELS[vendor]} on {source['date']} (tree {source['git']})"
        for vendor, source in sources.items()
        if vendor in context["vendors"]
    ]
    return [
        "Databases measured in separate runs, merged with --merge: " + "; ".join(parts) + ".",
        "",
    ]


def render(context: dict[str, Any]) -> str:
    """The whole RESULTS.md."""
    results = Results(context)
    plan = context["plan"]
    machine = context["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `{context['command'].strip()}` on {context['date']} "
        f"(tree {context['git']}) in {context['elapsed_seconds'] / 60:.1f} minutes. "
        "Re-run it to reproduce; docs/performance.md explains every number.",
        "",
        *_sources(context),
        f"Each cell is the median of {plan['repeat']} run(s) with the range (min–max) in brackets. "
        f"Drains use {plan['jobs']:,} no-op jobs (django-db-queue 3.3: 8, as it runs one step per "
        "second per worker), pipelines a third as many three-step jobs, pickup latency "
        f"{plan['samples']} samples per run (fewer for peers: see the notes at the end).",
        "",
        "## Machine",
        "",
        f"- {machine['nproc']} cores ({machine['cpu']}), {machine['memory']} memory, "
        f"{machine['os']}, Linux {machine['kernel']}",
        f"- load average (1/5/15 min) when the run ended: {machine['loadavg']}",
    ]
    for vendor in context["vendors"]:
        infos = context["infos"].get(vendor, {})
        info = next((i for i in (infos.get("django_dbq"), *infos.values()) if i), {})
        if not info.get("server_version"):
            continue
        if vendor == "postgresql":
            extra = (
                f"synchronous_commit={info.get('synchronous_commit')}, fsync={info.get('fsync')}, "
                f"shared_buffers={info.get('shared_buffers')}"
            )
        elif vendor == "mariadb":
            extra = (
                f"innodb_flush_log_at_trx_commit={info.get('innodb_flush_log_at_trx_commit')}, "
                f"innodb_buffer_pool_size={info.get('innodb_buffer_pool_size')}"
            )
        else:
            extra = (
                f"journal_mode={info.get('journal_mode')}, synchronous={info.get('synchronous')}"
            )
        lines.append(f"- {LABELS[vendor]} {info.get('server_version')} ({extra}), local")
    ours = next(iter(context["infos"].values()), {}).get("django_dbq", {})
    if ours:
        lines.append(
            f"- Python {ours.get('python')}, Django {ours.get('django')} (every contender)"
        )
    lines += [
        "",
        "## Targets (django_dbq)",
        "",
        "| target | goal | measured (median) | met |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in targets(results)]

    for vendor in context["vendors"]:
        contenders = [
            key
            for key in context["contenders"]
            if vendor in context["peer_vendors"].get(key, [vendor])
        ]
        lines += ["", f"## {LABELS[vendor]}", ""]
        peers = [key for key in contenders if key != "django_dbq"]
        header = [contender_name(context, key) for key in contenders]
        if peers:
            header.append("lead over best peer")
        lines.append("| | " + " | ".join(header) + " |")
        lines.append("| --- |" + " ---: |" * len(header))
        for row in ROWS:
            cells = [results.cell(key, vendor, row) for key in contenders]
            if not any(cells):
                continue
            if peers:
                cells.append(lead(results, vendor, row, peers))
            lines.append(f"| {row.label} ({row.unit}) | " + " | ".join(cells) + " |")

    lines += [
        "",
        "¹ No multi-step jobs: the first task enqueues the second, which enqueues the third "
        "(three task rows per pipeline).",
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

    lines += ["", "## How each contender ran", ""]
    lines += [
        "- Every contender gets the same Django settings: DEBUG off, persistent connections "
        "(CONN_MAX_AGE=None), SQLite in WAL mode with synchronous=NORMAL and IMMEDIATE "
        "transactions, and the same no-op task. Workers are separate `manage.py` processes; "
        "their output goes to bench/work/logs/.",
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
    ]
    notes = {
        "dbq3": "`manage.py worker` (no burst mode: stopped with SIGTERM once drained; it sleeps "
        "1 s before each step); `Job.objects.create`; no bulk API.",
        "tasks_db": "`manage.py db_worker --no-startup-delay` (`--batch` to drain; "
        "--no-startup-delay favours it); `task.enqueue()`; no bulk API; polls every 1 s "
        "(its default).",
        "procrastinate": "`manage.py procrastinate worker` (`--one-shot` to drain), default "
        "concurrency (1); `task.defer()`, `task.batch_defer()` in bulk; LISTEN/NOTIFY.",
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
    lines.append("")
    return "\n".join(lines)
