"""Wake-ups for idle workers: PostgreSQL LISTEN/NOTIFY, polling everywhere else.

On PostgreSQL a statement-level trigger (created by migration 0007) calls
``pg_notify('django_dbq', queue_name)`` when jobs become runnable, so an idle worker starts a new
job within milliseconds of its commit. Other databases are polled every DBQ_POLL_INTERVAL.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading

from django.db import DatabaseError, InterfaceError, connections

logger = logging.getLogger(__name__)

CHANNEL = "django_dbq"


class Waker:
    """Waits until work may be there: a notification, a signal, or the timeout."""

    def __init__(self, alias: str):
        self.alias = alias
        self._signal_fd: int | None = None
        self._pipe: tuple[int, int] | None = None

    def wake_on_signals(self) -> None:
        """Make a signal delivered to this process end the wait at once (main thread only)."""
        if threading.current_thread() is not threading.main_thread() or self._pipe:
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self._pipe = (read_fd, write_fd)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)

    def wait(self, timeout: float) -> None:
        """Return after ``timeout`` seconds, or sooner when work or a signal arrives."""
        readable = self._select([], timeout)
        self._drain_pipe(readable)

    def close(self) -> None:
        """Release the pipe and restore signal wake-ups."""
        if self._pipe:
            signal.set_wakeup_fd(-1)
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None

    def _select(self, fds: list[int], timeout: float) -> list[int]:
        if self._pipe:
            fds = [*fds, self._pipe[0]]
        if not fds:
            threading.Event().wait(timeout)
            return []
        readable, _, _ = select.select(fds, [], [], max(timeout, 0))
        return readable

    def _drain_pipe(self, readable: list[int]) -> None:
        if self._pipe and self._pipe[0] in readable:
            try:
                while os.read(self._pipe[0], 512):
                    pass
            except BlockingIOError:
                pass


class PostgreSQLWaker(Waker):
    """Waits on the worker's own connection, which LISTENs on the django_dbq channel."""

    def __init__(self, alias: str, queue_name: str):
        super().__init__(alias)
        self.queue_name = queue_name
        self._listening_on: object = None

    def wait(self, timeout: float) -> None:
        connection = connections[self.alias]
        try:
            # The DB-API calls below raise the driver's errors: have Django translate them.
            with connection.wrap_database_errors:
                raw = self._listening_connection()
                if self._pending(raw):
                    return
                readable = self._select([raw.fileno()], timeout)
                self._drain_pipe(readable)
                self._pending(raw)
        except (DatabaseError, InterfaceError) as error:
            # The idle connection died (server restart, killed session): drop it, so that the
            # next claim reconnects and the next wait LISTENs again, and finish this wait.
            logger.error("event=listen_connection_lost alias=%s error=%r", self.alias, error)
            self._listening_on = None
            try:
                connection.close()
            except (DatabaseError, InterfaceError):
                pass
            super().wait(timeout)

    def _listening_connection(self):
        connection = connections[self.alias]
        connection.ensure_connection()
        raw = connection.connection
        if raw is not self._listening_on:
            with connection.cursor() as cursor:
                cursor.execute(f"LISTEN {CHANNEL}")
            self._listening_on = raw
        return raw

    def _pending(self, raw) -> bool:
        """Consume received notifications; True when one concerns this worker's queue."""
        if callable(getattr(raw, "notifies", None)):  # psycopg 3
            payloads = [n.payload for n in raw.notifies(timeout=0)]
        else:  # psycopg2
            raw.poll()
            payloads = [n.payload for n in raw.notifies]
            raw.notifies.clear()
        return any(payload in (self.queue_name, "") for payload in payloads)


def waker_for(alias: str, queue_name: str) -> Waker:
    """The best waker the database offers."""
    if connections[alias].vendor == "postgresql":
        return PostgreSQLWaker(alias, queue_name)
    return Waker(alias)
