"""Flow control of a JOBS entry: concurrency keys and rate limits, parsed and keyed.

A job whose entry declares ``concurrency`` or ``rate_limit`` gets a ``concurrency_key`` when it
is enqueued: its job name, then (for a keyed limit) the JSON of the named workspace values. The
limits themselves are read from JOBS at claim time (engine/keyed.py), so an edit applies when the
workers restart. Workers claim keyed jobs only while the key has a free slot and the rate
window room; the database serialises those claims per key (see docs/flow-control.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .exceptions import InvalidWorkspaceError

# Seconds of each rate window unit.
RATE_UNITS = {"s": 1, "m": 60, "h": 3600}
RATE_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*([smh])\s*$")
# Largest rate count and concurrency limit: far beyond any useful value, clear of overflow.
MAX_LIMIT = 1_000_000
# Separates the job name from the key values in a concurrency_key (a control character, so it
# never appears in a job name).
SEPARATOR = "\x1f"
# The concurrency_key column's length; longer keys are stored as a digest.
KEY_LENGTH = 255


@dataclass(frozen=True)
class Concurrency:
    """At most ``limit`` steps of a key (or of the job name, without a key) run at once."""

    limit: int
    key: tuple[str, ...] = ()


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` steps of a key (or of the job name) start per ``seconds`` window."""

    count: int
    seconds: int
    key: tuple[str, ...] = ()


def parse_concurrency(value: Any) -> tuple[Concurrency | None, str]:
    """A ``concurrency`` option as a Concurrency, or (None, why it is invalid)."""
    if not isinstance(value, Mapping):
        return None, f"must be a dict like {{'key': ['account_id'], 'limit': 2}}, not {value!r}"
    unknown = sorted(set(value) - {"key", "limit"})
    if unknown:
        return None, f"has unknown keys {unknown} (allowed: 'key', 'limit')"
    limit = value.get("limit")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        return None, f"'limit' must be a whole number from 1 to {MAX_LIMIT}, not {limit!r}"
    key, problem = _parse_key(value.get("key", ()))
    if problem:
        return None, problem
    return Concurrency(limit=limit, key=key), ""


def parse_rate_limit(value: Any) -> tuple[RateLimit | None, str]:
    """A ``rate_limit`` option ("N/s", "N/m", "N/h", or a dict with "rate" and "key") as a
    RateLimit, or (None, why it is invalid)."""
    key: tuple[str, ...] = ()
    rate = value
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"rate", "key"})
        if unknown:
            return None, f"has unknown keys {unknown} (allowed: 'rate', 'key')"
        rate = value.get("rate")
        key, problem = _parse_key(value.get("key", ()))
        if problem:
            return None, problem
    match = RATE_PATTERN.match(rate) if isinstance(rate, str) else None
    if match is None:
        return None, (f"rate must be a string like '100/m' (a count per s, m or h), not {rate!r}")
    count = int(match.group(1))
    if not 1 <= count <= MAX_LIMIT:
        return None, f"rate count must be from 1 to {MAX_LIMIT}, not {count}"
    return RateLimit(count=count, seconds=RATE_UNITS[match.group(2)], key=key), ""


def _parse_key(key: Any) -> tuple[tuple[str, ...], str]:
    if not isinstance(key, (list, tuple)) or not all(isinstance(k, str) and k for k in key):
        return (), f"'key' must be a list of workspace field names (non-empty strings), not {key!r}"
    if len(set(key)) != len(key):
        return (), f"'key' names a field twice: {list(key)!r}"
    return tuple(key), ""


def key_fields(concurrency: Concurrency | None, rate_limit: RateLimit | None) -> tuple[str, ...]:
    """The workspace fields a job's concurrency_key is made of (the concurrency key, else the
    rate limit's key; registry checks that they agree when both are keyed)."""
    if concurrency is not None and concurrency.key:
        return concurrency.key
    return rate_limit.key if rate_limit is not None else ()


def concurrency_key_for(name: str, fields: tuple[str, ...], workspace: Mapping[str, Any]) -> str:
    """The concurrency_key of a job: its name, plus the JSON of its key fields' values.

    Raises InvalidWorkspaceError naming the job and field when a key field is missing.
    """
    if not fields:
        return name
    missing = [field for field in fields if field not in workspace]
    if missing:
        raise InvalidWorkspaceError(
            f"workspace for job {name!r} has no {missing[0]!r}, a field of its concurrency or "
            f"rate limit key {list(fields)!r}"
        )
    values = json.dumps(
        [workspace[field] for field in fields], separators=(",", ":"), sort_keys=True
    )
    key = f"{name}{SEPARATOR}{values}"
    if len(key) > KEY_LENGTH:
        key = f"{name}{SEPARATOR}#{hashlib.sha256(values.encode()).hexdigest()}"
    return key


def rate_scope(name: str, key: str, rate_limit: RateLimit, concurrency: Concurrency | None) -> str:
    """What a rate limit counts starts of: the job's key, or its name when the rate limit is
    job-wide but the concurrency limit is keyed."""
    if not rate_limit.key and concurrency is not None and concurrency.key:
        return name
    return key
