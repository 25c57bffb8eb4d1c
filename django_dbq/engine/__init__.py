"""The engine: the only code that knows the database vendor (one implementation per vendor).

Claim, grouped outcome writes, lease renewal and rescue without waiting on locked rows, and job
inserts (COPY on PostgreSQL). ``engine_for(alias)`` picks the implementation of a connection;
tests/db/test_engine_*.py is the contract suite every vendor runs.
"""

from __future__ import annotations

from django.db import connections, router
from django.utils.module_loading import import_string

from ..exceptions import ConfigurationError
from .base import Engine

_ENGINES: dict[str, str] = {
    "postgresql": "django_dbq.engine.postgresql.PostgreSQLEngine",
    "sqlite": "django_dbq.engine.sqlite.SQLiteEngine",
    "mysql": "django_dbq.engine.mysql.MySQLEngine",
}
SUPPORTED_VENDORS = tuple(_ENGINES)


def engine_for(alias: str | None = None) -> Engine:
    """The engine of a database alias (by default the one Job rows are written to)."""
    from ..models import Job  # models imports this package (through inserts)

    connection = connections[alias or router.db_for_write(Job)]
    try:
        path = _ENGINES[connection.vendor]
    except KeyError:
        raise ConfigurationError(
            f"django_dbq does not support the {connection.vendor!r} database; "
            f"supported: {', '.join(SUPPORTED_VENDORS)}"
        ) from None
    return import_string(path)(connection)


__all__ = ["Engine", "SUPPORTED_VENDORS", "engine_for"]
