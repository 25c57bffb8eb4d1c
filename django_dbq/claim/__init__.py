"""The only code that knows the database vendor: picks the claimer for a connection."""

from __future__ import annotations

from django.db import connections, router

from .base import Claimer

_CLAIMERS: dict[str, str] = {
    "postgresql": "django_dbq.claim.postgresql.PostgreSQLClaimer",
    "sqlite": "django_dbq.claim.sqlite.SQLiteClaimer",
    "mysql": "django_dbq.claim.mysql.MySQLClaimer",
}
SUPPORTED_VENDORS = tuple(_CLAIMERS)


def claimer_for(alias: str | None = None) -> Claimer:
    """The claimer for a database alias (by default the one Job rows are written to)."""
    from django.utils.module_loading import import_string

    from ..exceptions import ConfigurationError
    from ..models import Job

    connection = connections[alias or router.db_for_write(Job)]
    try:
        path = _CLAIMERS[connection.vendor]
    except KeyError:
        raise ConfigurationError(
            f"django_dbq does not support the {connection.vendor!r} database; "
            f"supported: {', '.join(SUPPORTED_VENDORS)}"
        ) from None
    return import_string(path)(connection)


__all__ = ["Claimer", "SUPPORTED_VENDORS", "claimer_for"]
