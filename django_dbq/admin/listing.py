"""Admin list pages that stay fast with millions of rows: capped counts and index-friendly filters.

Counting a huge table (``COUNT(*)``) or listing its distinct values reads every row; these
helpers read at most a bounded number of rows, using the indexes the claim and the pruner use.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import InvalidPage, Page, Paginator
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from ..models import ACTIVE_STATES, JobState
from ..registry import DJANGO_TASK_JOB, get_registry

# Rows counted at most for a list page; pages beyond it are not reachable (narrow the filters).
COUNT_LIMIT = 10_000

# What every admin page of django_dbq shows for an empty value (Django's own default is "-").
EMPTY = "—"

# The job list's order: running, then waiting, then finished jobs (those needing attention
# first); newest first within a state.
STATE_ORDER = (
    JobState.PROCESSING,
    JobState.STOPPING,
    JobState.READY,
    JobState.NEW,
    JobState.FAILED,
    JobState.CANCELLED,
    JobState.COMPLETED,
)

# One date format for every date in the lists: compact, sortable, in the current time zone.
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


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


class StateOrderPaginator(CappedCountPaginator):
    """Pages of jobs in STATE_ORDER, each state in the queryset's order (newest first).

    Sorting the whole table by a rank of its state would read every row; instead each state's
    rows are read in turn, each an index range of (state, created), until the page is full.
    """

    def page(self, number: Any) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return self._get_page(self.rows(bottom, top), number, self)

    def rows(self, bottom: int, top: int) -> list:
        """Rows bottom..top of the list: at most one bounded count and one fetch per state."""
        rows: list = []
        skip = bottom
        for state in STATE_ORDER:
            wanted = top - bottom - len(rows)
            if wanted <= 0:
                break
            of_state = self.object_list.filter(state=state)
            if skip:
                # Rows of earlier pages: counted, at most `skip` of them (bounded by COUNT_LIMIT).
                counted = of_state.order_by()[:skip].count()
                if counted < skip:
                    skip -= counted
                    continue
            rows.extend(of_state[skip : skip + wanted])
            skip = 0
        return rows


class PaginatedChangeList(ChangeList):
    """A ChangeList that always lists its paginator's page, even when everything fits on one.

    Django's ChangeList asks the paginator for a page only when there are several; otherwise
    (and for "Show all") it lists the queryset itself, in the queryset's order, which would
    skip StateOrderPaginator's order of states.
    """

    def get_results(self, request: Any) -> None:
        super().get_results(request)
        # "Show all" lists at most list_max_show_all rows: page 1 of pages that long.
        number = 1 if self.show_all and self.can_show_all else self.page_num
        paginator = self.paginator
        if self.show_all and self.can_show_all:
            paginator = self.model_admin.get_paginator(
                request, self.queryset, self.model_admin.list_max_show_all
            )
        try:
            self.result_list = paginator.page(number).object_list
        except InvalidPage as error:
            raise IncorrectLookupParameters from error


class RegistryNameFilter(admin.SimpleListFilter):
    """Filter by job name, listing the names declared in JOBS (no SELECT DISTINCT over jobs)."""

    title = "name"
    parameter_name = "name"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        names = get_registry().names()
        # Jobs of Django's tasks framework share one reserved name that JOBS does not list.
        if (
            uses_tasks_backend()
            or model_admin.model.objects.filter(
                state__in=ACTIVE_STATES, name=DJANGO_TASK_JOB
            ).exists()
        ):
            names.append(DJANGO_TASK_JOB)
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


def uses_tasks_backend() -> bool:
    """Whether a TASKS backend is django_dbq's, so jobs of Django's tasks framework may exist.

    Read from settings: finding such jobs by name would read the whole table (no index leads
    with the name); active ones, which are few, are looked for besides.
    """
    backends = getattr(settings, "TASKS", None) or {}
    return any(
        str(config.get("BACKEND", "")).startswith("django_dbq.") for config in backends.values()
    )


def short_datetime(value: datetime.datetime | None) -> str:
    """A date in the lists' one format, in the current time zone; EMPTY for None."""
    if value is None:
        return EMPTY
    return format_html(
        '<time datetime="{}">{}</time>',
        value.isoformat(),
        timezone.localtime(value).strftime(DATE_FORMAT),
    )


def pretty_json(value: Any) -> str:
    """A JSON value as an indented <pre> block, or EMPTY for None."""
    if value is None:
        return EMPTY
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre class="dbq-json">{}</pre>', text)


def preformatted(text: str) -> str:
    """Text with its line breaks kept, or EMPTY when empty."""
    return format_html('<pre class="dbq-text">{}</pre>', text) if text else EMPTY


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
