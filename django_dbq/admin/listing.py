"""Admin list pages that stay fast with millions of rows: capped counts and index-friendly filters.

Counting a huge table (``COUNT(*)``) or listing its distinct values reads every row; these
helpers read at most a bounded number of rows, using the indexes the claim and the pruner use.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property
from django.utils.html import format_html

from ..models import ACTIVE_STATES
from ..registry import DJANGO_TASK_JOB, get_registry

# Rows counted at most for a list page; pages beyond it are not reachable (narrow the filters).
COUNT_LIMIT = 10_000


class AtLeast(int):
    """A count that stopped at its limit: compares as a number, prints as "10,000+"."""

    def __str__(self) -> str:
        return f"{self - 1:,}+"


class CappedCountPaginator(Paginator):
    """A paginator that counts at most COUNT_LIMIT + 1 rows instead of the whole table."""

    @cached_property
    def count(self) -> int:
        """The number of rows, or AtLeast(COUNT_LIMIT + 1) when there are more."""
        # COUNT(*) over a LIMITed subquery: cost bounded by the limit, not the table size.
        counted = self.object_list.order_by()[: COUNT_LIMIT + 1].count()
        return AtLeast(counted) if counted > COUNT_LIMIT else counted


class RegistryNameFilter(admin.SimpleListFilter):
    """Filter by job name, listing the names declared in JOBS (no SELECT DISTINCT over jobs)."""

    title = "name"
    parameter_name = "name"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        # Jobs of Django's tasks framework share one reserved name that JOBS does not list.
        names = [*get_registry().names(), DJANGO_TASK_JOB]
        # A name no longer in JOBS can still be filtered on by URL; show it while selected.
        if self.value() and self.value() not in names:
            names.append(self.value())
        return [(name, name) for name in names]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        return queryset.filter(name=self.value()) if self.value() else queryset


class QueueFilter(admin.SimpleListFilter):
    """Filter by queue, listing the queues of active jobs (read through the state index)."""

    title = "queue"
    parameter_name = "queue_name"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        # Active jobs are few even when finished ones are millions, so this reads few rows.
        active = set(
            model_admin.model.objects.filter(state__in=ACTIVE_STATES)
            .order_by()
            .values_list("queue_name", flat=True)
            .distinct()
        )
        queues = active | {"default"} | ({self.value()} if self.value() else set())
        return [(queue, queue) for queue in sorted(queues)]

    def queryset(self, request: Any, queryset: QuerySet) -> QuerySet:
        return queryset.filter(queue_name=self.value()) if self.value() else queryset


def pretty_json(value: Any) -> str:
    """A JSON value as an indented <pre> block, or an em dash for None."""
    if value is None:
        return "—"
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre class="dbq-json">{}</pre>', text)


def preformatted(text: str) -> str:
    """Text with its line breaks kept, or an em dash when empty."""
    return format_html('<pre class="dbq-text">{}</pre>', text) if text else "—"


def humanize_seconds(seconds: float) -> str:
    """A duration as "2h 5m", "4m 12s" or "0.35s"."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def humanize_delta(delta: datetime.timedelta) -> str:
    """A timedelta as humanize_seconds() writes it."""
    return humanize_seconds(max(delta.total_seconds(), 0.0))
