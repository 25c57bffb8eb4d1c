"""pgqueuer, the asyncpg-based PostgreSQL queue (not Django): PostgreSQL only."""
