"""Which JSON values every supported database stores: one rule for enqueue and for each step."""

from __future__ import annotations

import json
import re
from typing import Any

# json.dumps(allow_nan=False) without building a new encoder on every call.
strict_json = json.JSONEncoder(allow_nan=False).encode

# An escape the JSON text itself wrote (preceded by an even number of backslashes): NUL, or a
# UTF-16 surrogate not part of a pair.
_ESCAPE = r"(?<!\\)(?:\\\\)*\\u"
_NUL = re.compile(_ESCAPE + "0000")
_LONE_SURROGATE = re.compile(
    _ESCAPE + r"(?:[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    r"|(?<![dD][89abAB][0-9a-fA-F]{2}\\u)[dD][c-fC-F][0-9a-fA-F]{2})"
)


def storable_problem(value: Any) -> str | None:
    """Why a supported database would refuse ``value`` in a JSON column, or None.

    Strict JSON (NaN and Infinity are not JSON: PostgreSQL and SQLite refuse them), with no NUL
    character (PostgreSQL's jsonb refuses it) and no lone UTF-16 surrogate (not Unicode). Dict
    keys must be strings: json would turn ``{1: "x"}`` into ``{"1": "x"}``, so the value read
    back would not be the value stored (Django's tasks framework refuses such keys too).
    """
    try:
        text = strict_json(value)
    except (TypeError, ValueError) as error:
        return str(error)
    key = non_string_key(value)
    if key is not None:
        return key
    if "\\u0000" in text and _NUL.search(text):
        return "a string holds the NUL character (\\u0000), which PostgreSQL cannot store"
    # json escapes in lowercase hex, so no copy of the text is needed to look for one.
    if "\\ud" in text and _LONE_SURROGATE.search(text):
        return "a string holds a lone UTF-16 surrogate, which is not valid Unicode"
    return None


def non_string_key(value: Any, path: str = "") -> str | None:
    """Where ``value`` holds a dict key that is not a string, said for people; else None."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                where = f" at {path}" if path else ""
                read_back = next(iter(json.loads(strict_json({key: None}))))
                return (
                    f"dict key {key!r} ({type(key).__name__}){where} is not a string: JSON "
                    f"would read it back as {read_back!r}"
                )
            found = non_string_key(item, f"{path}/{key}")
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = non_string_key(item, f"{path}/{index}")
            if found is not None:
                return found
    return None
