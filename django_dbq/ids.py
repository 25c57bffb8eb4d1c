"""Job ids: UUIDs that begin with their creation time (version 7, RFC 9562).

Random (version 4) ids scatter new rows over the whole primary key. MariaDB/MySQL store a
table in primary-key order, so each insert, claim and step of a recent job would touch its own
page of a table that may be far larger than memory; PostgreSQL's and SQLite's primary-key
indexes have the same problem on a smaller scale. Version 7 ids start with the time in
milliseconds, so recent jobs, the only ones workers touch, sit together at the end of the key.
A counter follows (ids one process makes in the same millisecond stay in order, and a burst of
thousands does not push their time ahead of the clock), then 32 random bits: ids stay unique
across processes and machines and cannot be guessed.
"""

from __future__ import annotations

import uuid

try:
    from uuid import uuid7 as _uuid7  # Python 3.14+
except ImportError:  # pragma: no cover - depends on the Python version
    # The same layout (RFC 9562 method 1: a 42-bit counter), as a plain uuid.UUID.
    from uuid_utils.compat import uuid7 as _uuid7


def new_job_id() -> uuid.UUID:
    """A new job id: a version 7 UUID, as a plain ``uuid.UUID``."""
    return _uuid7()
