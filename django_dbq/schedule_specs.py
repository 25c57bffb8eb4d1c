"""Schedules declared in JOBS, read into validated, frozen ScheduleSpec objects.

See schedule_sync.py for how they are synced into the schedule table.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .exceptions import InvalidScheduleError
from .recurrence import CatchUp, parse_interval, validate_cron

SCHEDULE_KEYS = (
    "name",
    "cron",
    "interval",
    "workspace",
    "queue_name",
    "priority",
    "enabled",
    "catch_up",
)


@dataclass(frozen=True)
class ScheduleSpec:
    """One schedule declared in JOBS, validated."""

    name: str
    job_name: str
    cron: str = ""
    interval: datetime.timedelta | None = None
    workspace: Mapping[str, Any] = field(default_factory=dict)
    queue_name: str = "default"
    priority: int = 0
    # None when the declaration does not say: then an operator's enable/disable sticks.
    enabled: bool | None = None
    catch_up: str = "skip"

    def fingerprint(self) -> str:
        """A digest of the declaration; a synced row stores it to know it is up to date."""
        declared = {
            "job_name": self.job_name,
            "cron": self.cron,
            "interval": self.interval.total_seconds() if self.interval is not None else None,
            "workspace": self.workspace,
            "queue_name": self.queue_name,
            "priority": self.priority,
            "enabled": self.enabled,
            "catch_up": self.catch_up,
        }
        encoded = json.dumps(declared, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(encoded.encode()).hexdigest()

    def definition(self) -> dict[str, Any]:
        """The Schedule fields this declaration sets."""
        fields = {
            "job_name": self.job_name,
            "cron": self.cron,
            "interval": self.interval,
            "workspace": json.loads(json.dumps(self.workspace)),
            "queue_name": self.queue_name,
            "priority": self.priority,
            "catch_up": self.catch_up,
        }
        if self.enabled is not None:
            fields["enabled"] = self.enabled
        return fields


def parse_declarations(job_name: str, declared: Any) -> tuple[tuple[ScheduleSpec, ...], list[str]]:
    """A job's ``schedules`` entry (a cron string, a dict, or a list of them) -> specs, problems."""
    entries = declared if isinstance(declared, (list, tuple)) else [declared]
    where = f"JOBS[{job_name!r}]['schedules']"
    parsed: list[ScheduleSpec] = []
    problems: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            entry = {"cron": entry}
        if not isinstance(entry, Mapping):
            problems.append(
                f"{where} entries must be cron strings or dicts, not {type(entry).__name__}."
            )
            continue
        name = entry.get("name", job_name)
        wrong: list[str] = []
        unknown = sorted(set(entry) - set(SCHEDULE_KEYS))
        if unknown:
            wrong.append(f"unknown keys {unknown} (allowed: {', '.join(SCHEDULE_KEYS)})")
        if not isinstance(name, str) or not name or len(name) > 100:
            wrong.append("'name' must be a non-empty string of at most 100 characters")
        cron, interval = entry.get("cron"), entry.get("interval")
        if (cron is None) == (interval is None):
            wrong.append("give exactly one of 'cron' and 'interval'")
        try:
            cron = validate_cron(cron) if cron is not None else ""
            interval = parse_interval(interval) if interval is not None else None
        except InvalidScheduleError as error:
            wrong.append(str(error))
        workspace = entry.get("workspace", {})
        if not isinstance(workspace, Mapping):
            wrong.append(f"'workspace' must be a dict, not {type(workspace).__name__}")
        priority = entry.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int):
            wrong.append(f"'priority' must be an integer, not {priority!r}")
        elif not -32768 <= priority <= 32767:
            wrong.append("'priority' must be between -32768 and 32767")
        queue_name = entry.get("queue_name", "default")
        if not isinstance(queue_name, str) or not queue_name or len(queue_name) > 100:
            wrong.append("'queue_name' must be a non-empty string of at most 100 characters")
        enabled = entry.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            wrong.append(f"'enabled' must be True or False, not {enabled!r}")
        catch_up = entry.get("catch_up", CatchUp.SKIP)
        if catch_up not in CatchUp.values:
            wrong.append(f"'catch_up' must be one of {CatchUp.values}, not {catch_up!r}")
        if any(spec.name == name for spec in parsed):
            wrong.append(
                "another schedule of this job has the same name (an unnamed schedule takes "
                "the job's name): give each one a 'name'"
            )
        if wrong:
            problems.extend(f"{where} schedule {name!r}: {message}." for message in wrong)
            continue
        parsed.append(
            ScheduleSpec(
                name=name,
                job_name=job_name,
                cron=cron,
                interval=interval,
                workspace=dict(workspace),
                queue_name=queue_name,
                priority=priority,
                enabled=enabled,
                catch_up=str(catch_up),
            )
        )
    return tuple(parsed), problems
