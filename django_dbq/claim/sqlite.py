"""SQLite: one atomic UPDATE ... RETURNING (SQLite serialises writers, so no row locks)."""

from .returning import ReturningClaimer


class SQLiteClaimer(ReturningClaimer):
    """Claims in one statement; SQLite lets one writer at a time run it."""
