"""Keys for "unique" jobs: while one is waiting or running, no second one with its key."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .registry import JobSpec


def unique_key_for(spec: JobSpec, workspace: dict[str, Any]) -> str:
    """The job's uniqueness key: "*" for one at a time, else a digest of the named values.

    The database enforces it: a unique constraint on (name, unique_key), where finished jobs
    have a NULL key, which never collides.
    """
    if spec.unique is True:
        return "*"
    values = {key: workspace.get(key) for key in spec.unique}
    encoded = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()
