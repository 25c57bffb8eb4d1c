"""The report's targets table: django_dbq's goals, and whether this run met them (stdlib only)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .databases import LABELS
from .results import Results, number

JOB_TABLE = "django_dbq_job"


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


def bulk_enqueue_target(results: Results, vendor: str) -> tuple[str, str, str, str]:
    """The bulk enqueue row: 20,000 jobs/s on PostgreSQL, where the issue sets that figure;
    elsewhere faster than a plain ``bulk_create`` of the same rows (no peer has a bulk API
    there, and enqueue_many validates and runs hooks that bulk_create does not)."""
    label = f"{LABELS[vendor]} bulk enqueue (`enqueue_many`)"
    bulk = results.median("django_dbq", vendor, "enqueue", 0, "bulk")
    if vendor == "postgresql":
        if bulk is None:
            return (label, "≥ 20,000 jobs/s", "not measured", "?")
        measured = f"{number(bulk, 'jobs/s')} jobs/s"
        return (label, "≥ 20,000 jobs/s", measured, "yes" if bulk >= 20000 else "**no**")
    goal = "faster than plain `bulk_create` (20,000 jobs/s is PostgreSQL's goal)"
    plain = results.median("django_dbq", vendor, "enqueue", 0, "plain_bulk")
    if bulk is None or plain is None:
        return (label, goal, "not measured", "?")
    measured = f"{number(bulk, 'jobs/s')} jobs/s = {bulk / plain:.1f}× plain"
    return (label, goal, measured, "yes" if bulk > plain else "**no**")


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
        rows.append(bulk_enqueue_target(results, vendor))
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
