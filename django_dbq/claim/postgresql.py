"""PostgreSQL: one UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING."""

from .returning import ReturningClaimer


class PostgreSQLClaimer(ReturningClaimer):
    """Claims in one statement; concurrent workers skip rows another claim has locked."""

    skips_locked_rows = True
    lock_clause = " FOR UPDATE SKIP LOCKED"
