"""When a schedule fires: cron expressions and fixed intervals, and what to do after downtime.

Pure functions of their arguments (no database, no clock): the scheduler passes ``now`` in, so
tests freeze time by passing a value.

Cron expressions are parsed and iterated by croniter, in the project's TIME_ZONE, with one
correction: croniter fires a fixed-hour expression twice when the clocks go back (``30 1 * * *``
at 01:30 summer time and again at 01:30 winter time). Like Vixie cron, we run such an expression
once, at the first of the two; an expression that fires every hour still fires in both hours,
because both are real hours. A time skipped when the clocks go forward runs at the first moment
after the gap (croniter's behaviour, and cron's).
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.utils import timezone

from .exceptions import InvalidScheduleError

CRON_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MIN_INTERVAL = datetime.timedelta(seconds=1)
_ONE_MICROSECOND = datetime.timedelta(microseconds=1)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class CatchUp(models.TextChoices):
    """What a schedule does with the occurrences it missed while no worker ran."""

    # Drop missed occurrences and run at the next one. An occurrence is missed when it is
    # found more than DBQ_SCHEDULE_GRACE seconds after its time.
    SKIP = "skip", "Skip missed occurrences"
    # One job for all the due occurrences together (spawned for the latest of them).
    ONCE = "once", "Run once for all missed"
    # One job per due occurrence, at most DBQ_SCHEDULE_CATCH_UP_LIMIT (the latest ones).
    ALL = "all", "Run every missed occurrence"


class Recurrence:
    """A rule that yields occurrence times, as aware datetimes, in increasing order."""

    def occurrences_after(self, after: datetime.datetime) -> Iterator[datetime.datetime]:
        """Every occurrence strictly after ``after``, in order."""
        raise NotImplementedError

    def next_after(self, after: datetime.datetime) -> datetime.datetime:
        """The first occurrence strictly after ``after``."""
        return next(self.occurrences_after(after))

    def between(
        self, start: datetime.datetime, end: datetime.datetime, limit: int
    ) -> tuple[list[datetime.datetime], bool]:
        """The last ``limit`` occurrences in [start, end], and whether older ones were left out.

        Looks back from ``end`` over a window that doubles until it holds ``limit`` occurrences
        or reaches ``start``, so a long gap costs a few iterations, not one per occurrence.
        """
        window = datetime.timedelta(hours=1)
        while True:
            lower = max(start, end - window)
            found = list(self._until(lower - _ONE_MICROSECOND, end))
            if len(found) > limit:
                return found[len(found) - limit :], True
            if lower == start:
                return found, False
            if len(found) == limit:
                return found, self.any_between(start, lower - _ONE_MICROSECOND)
            window *= 2

    def any_between(self, start: datetime.datetime, end: datetime.datetime) -> bool:
        """Whether an occurrence falls in [start, end]."""
        return start <= end and next(self._until(start - _ONE_MICROSECOND, end), None) is not None

    def _until(self, after: datetime.datetime, end: datetime.datetime):
        for occurrence in self.occurrences_after(after):
            if occurrence > end:
                return
            yield occurrence


class Cron(Recurrence):
    """A five-field cron expression (or an @alias), evaluated in a time zone."""

    def __init__(self, expression: str, tz: datetime.tzinfo | None = None):
        self.expression = validate_cron(expression)
        self.tz = tz or project_timezone()
        from croniter import croniter

        hours = croniter(self.expression).expanded[1]
        # Whether the expression fires in every hour: then both copies of a repeated hour run.
        self.every_hour = hours == ["*"] or len(set(hours)) == 24

    def occurrences_after(self, after: datetime.datetime) -> Iterator[datetime.datetime]:
        from croniter import croniter

        # Normalise through UTC so the start carries the right fold in a repeated hour.
        local = to_aware(after).astimezone(datetime.timezone.utc).astimezone(self.tz)
        iterator = croniter(self.expression, local)
        previous = None
        while True:
            found = iterator.get_next(datetime.datetime)
            occurrence = found.astimezone(datetime.timezone.utc)
            if not self.every_hour and _is_repeat_of_wall_time(occurrence, self.tz):
                continue
            # Times skipped by a DST gap all map to the moment after it: run that moment once.
            if previous is not None and occurrence <= previous:
                continue
            previous = occurrence
            yield occurrence

    def __str__(self) -> str:
        return self.expression


class Interval(Recurrence):
    """Every ``interval``, on the grid anchored at ``anchor`` (absolute time, no DST effect)."""

    def __init__(self, interval: datetime.timedelta, anchor: datetime.datetime | None = None):
        self.interval = validate_interval(interval)
        self.anchor = anchor

    def occurrences_after(self, after: datetime.datetime) -> Iterator[datetime.datetime]:
        after = to_aware(after)
        if self.anchor is None:
            # No grid yet: the first occurrence is one interval from now, on a whole second.
            occurrence = _ceil_second(after + self.interval)
        else:
            anchor = to_aware(self.anchor)
            steps = (after - anchor) // self.interval + 1
            occurrence = anchor + steps * self.interval
        while True:
            yield occurrence
            occurrence += self.interval

    def __str__(self) -> str:
        return f"every {format_duration(self.interval)}"


class _StartingAt(Recurrence):
    """A recurrence whose first occurrence is ``first`` (the row's next_run_at), whatever it is.

    next_run_at is normally an occurrence of the rule; when someone set it by hand ("run next
    at 14:00"), that time still runs, and the rule takes over after it.
    """

    def __init__(self, rule: Recurrence, first: datetime.datetime):
        self.rule = rule
        self.first = first

    def occurrences_after(self, after: datetime.datetime) -> Iterator[datetime.datetime]:
        if after < self.first:
            yield self.first
        yield from self.rule.occurrences_after(max(after, self.first))


@dataclass(frozen=True)
class Plan:
    """What one pass of the scheduler does for one due schedule."""

    # The occurrences to spawn a job for, oldest first.
    spawn: tuple[datetime.datetime, ...]
    # Whether some due occurrences get no job of their own (skipped, folded or over the limit).
    missed: bool
    # The schedule's next_run_at afterwards: the first occurrence after now.
    next_run_at: datetime.datetime


def plan(
    recurrence: Recurrence,
    due_since: datetime.datetime,
    now: datetime.datetime,
    catch_up: str,
    grace: float,
    limit: int,
) -> Plan:
    """Decide which occurrences in [due_since, now] get a job, and when the schedule runs next.

    ``due_since`` is the schedule's next_run_at: its oldest occurrence not yet handled.
    """
    if catch_up not in CatchUp.values:
        raise InvalidScheduleError(f"catch_up must be one of {CatchUp.values}, not {catch_up!r}")
    due_since, now = to_aware(due_since), to_aware(now)  # naive with USE_TZ = False
    limit = max(1, limit)
    if due_since > now:
        return Plan((), False, due_since)
    next_run_at = recurrence.next_after(now)
    recurrence = _StartingAt(recurrence, due_since)
    if catch_up == CatchUp.ONCE:
        latest, older = recurrence.between(due_since, now, 1)
        return Plan(tuple(latest), older, next_run_at)
    if catch_up == CatchUp.ALL:
        spawn, older = recurrence.between(due_since, now, limit)
        return Plan(tuple(spawn), older, next_run_at)
    # SKIP: only occurrences found within the grace period run; older ones were missed.
    on_time_since = max(due_since, now - datetime.timedelta(seconds=grace))
    spawn, older = recurrence.between(on_time_since, now, limit)
    missed = older or recurrence.any_between(due_since, on_time_since - _ONE_MICROSECOND)
    return Plan(tuple(spawn), missed, next_run_at)


# -- validation and parsing ------------------------------------------------------------------


def validate_cron(expression: object) -> str:
    """Return the expression, stripped, or raise InvalidScheduleError saying what is wrong."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidScheduleError(
            f"a cron expression must be a non-empty string, not {expression!r}"
        )
    expression = " ".join(expression.split())
    if expression.startswith("@"):
        if expression.lower() not in CRON_ALIASES:
            raise InvalidScheduleError(
                f"unknown cron alias {expression!r}; known: {', '.join(CRON_ALIASES)}"
            )
        expression = expression.lower()
    elif len(expression.split()) != 5:
        raise InvalidScheduleError(
            f"cron expression {expression!r} must have 5 fields "
            "(minute hour day-of-month month day-of-week), "
            f"not {len(expression.split())}"
        )
    from croniter import CroniterError, croniter

    try:
        croniter(expression, datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)).get_next(
            datetime.datetime
        )
    except CroniterError as error:
        raise InvalidScheduleError(f"invalid cron expression {expression!r}: {error}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidScheduleError(f"invalid cron expression {expression!r}: {error}") from None
    return expression


def validate_interval(interval: object) -> datetime.timedelta:
    """Return the interval, or raise InvalidScheduleError unless it is at least one second."""
    if not isinstance(interval, datetime.timedelta):
        raise InvalidScheduleError(f"an interval must be a timedelta, not {interval!r}")
    if interval < MIN_INTERVAL:
        raise InvalidScheduleError(
            f"an interval must be at least 1 second, not {format_duration(interval)}"
        )
    return interval


def parse_interval(value: object) -> datetime.timedelta:
    """An interval from seconds (int or float), a timedelta, or text: "90", "15m", "1h30m", "1d".

    Text in Django's duration formats ("01:30:00", ISO 8601 "PT15M") is accepted too.
    """
    if isinstance(value, datetime.timedelta):
        return validate_interval(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return validate_interval(datetime.timedelta(seconds=value))
    if isinstance(value, str):
        text = value.strip()
        try:
            return validate_interval(datetime.timedelta(seconds=float(text)))
        except ValueError:
            pass
        compact = text.replace(" ", "")
        parts = _DURATION_PART.findall(compact)
        if parts and "".join(n + u for n, u in parts).lower() == compact.lower():
            seconds = sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
            return validate_interval(datetime.timedelta(seconds=seconds))
        from django.utils.dateparse import parse_duration

        parsed = parse_duration(text)
        if parsed is not None:
            return validate_interval(parsed)
    raise InvalidScheduleError(
        f"invalid interval {value!r}: give seconds, or text such as '90s', '15m', '1h30m', '1d'"
    )


def format_duration(interval: datetime.timedelta) -> str:
    """A compact form such as '1d', '1h30m' or '0.5s'."""
    seconds = interval.total_seconds()
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{int(count)}{unit}")
    if seconds or not parts:
        parts.append(f"{seconds:g}s")
    return "".join(parts)


# -- time zones -------------------------------------------------------------------------------


def project_timezone() -> datetime.tzinfo:
    """The zone cron expressions are evaluated in: settings.TIME_ZONE (UTC when unset)."""
    name = getattr(settings, "TIME_ZONE", None) or "UTC"
    return zoneinfo.ZoneInfo(name)


def to_aware(value: datetime.datetime) -> datetime.datetime:
    """Aware datetimes pass through; naive ones (USE_TZ=False) are read in the project's zone."""
    if timezone.is_naive(value):
        return value.replace(tzinfo=project_timezone())
    return value


def for_storage(value: datetime.datetime) -> datetime.datetime:
    """A datetime as the ORM stores it: aware (UTC) with USE_TZ, naive local time without."""
    if settings.USE_TZ:
        return value.astimezone(datetime.timezone.utc)
    return value.astimezone(project_timezone()).replace(tzinfo=None)


def _is_repeat_of_wall_time(moment: datetime.datetime, tz: datetime.tzinfo) -> bool:
    """Whether ``moment`` is the second pass through a wall-clock time the clocks went back over."""
    local = moment.astimezone(tz)
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


def _ceil_second(value: datetime.datetime) -> datetime.datetime:
    if value.microsecond:
        return value.replace(microsecond=0) + datetime.timedelta(seconds=1)
    return value
