"""SQLite: one atomic UPDATE ... RETURNING (SQLite serialises writers, so no row locks)."""

from .returning import ReturningEngine


class SQLiteEngine(ReturningEngine):
    """Claims in one statement; SQLite lets one writer at a time run it."""
