"""procrastinate with its Django integration (PostgreSQL only)."""
