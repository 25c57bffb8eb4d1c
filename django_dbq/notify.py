"""Wake-ups for idle workers: PostgreSQL LISTEN/NOTIFY, polling everywhere else.

On PostgreSQL a statement-level trigger (created by migration 0007; its function is 0010's) calls
``pg_notify('django_dbq', queue_name)`` when jobs become runnable, so an idle worker starts a new
job within milliseconds of its commit. Other databases are polled every DBQ_POLL_INTERVAL.

The same trigger (migration 0016) sends ``pg_notify('django_dbq_cancel', '')`` when a claimed
job is cancelled (made STOPPING). A worker LISTENs before it claims, so it hears of every cancel
committed after its claim, and looks at the rows of its batch again before the next step starts.
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
CANCEL_CHANNEL = "django_dbq_cancel"


class WakeupPipe:
    """A self-pipe that ends a waker's wait: written by a signal or by another thread."""

    def __init__(self) -> None:
        # Reentrant: a signal handler may call wake() while this thread is inside close().
        self._lock = threading.RLock()
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self._fds: tuple[int, int] | None = (read_fd, write_fd)

    @property
    def read_fd(self) -> int | None:
        return self._fds[0] if self._fds else None

    @property
    def write_fd(self) -> int | None:
        return self._fds[1] if self._fds else None

    def wake(self) -> None:
        """End the current (or the next) wait at once; safe from any thread."""
        with self._lock:  # never write to a descriptor number close() gave back
            if self._fds:
                try:
                    os.write(self._fds[1], b"w")
                except BlockingIOError:
                    pass  # full: a wake-up is pending already

    def drain(self) -> None:
        """Consume pending wake-ups."""
        try:
            while self._fds and os.read(self._fds[0], 512):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        with self._lock:
            # Forgotten first: a wake() from a signal handler meanwhile writes nowhere.
            fds, self._fds = self._fds, None
            for fd in fds or ():
                os.close(fd)


class Waker:
    """Waits until work may be there: a notification, a wake-up, a signal, or the timeout."""

    def __init__(self, alias: str, wakeup: WakeupPipe | None = None):
        self.alias = alias
        # A worker passes its own pipe so that it can end a wait from another thread; a waker
        # without one makes its own on the first wake_on_signals().
        self._wakeup = wakeup
        self._owns_wakeup = False
        self._signals_set = False

    def wake_on_signals(self) -> None:
        """Make a signal delivered to this process end the wait at once (main thread only)."""
        if threading.current_thread() is not threading.main_thread() or self._signals_set:
            return
        if self._wakeup is None:
            self._wakeup = WakeupPipe()
            self._owns_wakeup = True
        signal.set_wakeup_fd(self._wakeup.write_fd, warn_on_full_buffer=False)
        self._signals_set = True

    def wait(self, timeout: float) -> None:
        """Return after ``timeout`` seconds, or sooner when work, a wake-up or a signal arrives."""
        readable = self._select([], timeout)
        self._drain_pipe(readable)

    def listen(self) -> None:
        """Start hearing of cancels before a claim (where the database can tell)."""

    def cancels_arrived(self) -> bool:
        """Whether a claimed job may have been cancelled since the last call (or the listen).

        False where the database sends no notice: the worker then looks at its rows again
        every RECHECK_SECONDS.
        """
        return False

    def close(self) -> None:
        """Restore signal wake-ups and release the pipe if this waker made it."""
        if self._signals_set:
            signal.set_wakeup_fd(-1)
            self._signals_set = False
        if self._owns_wakeup and self._wakeup is not None:
            self._wakeup.close()
            self._wakeup = None
            self._owns_wakeup = False

    def _select(self, fds: list[int], timeout: float) -> list[int]:
        pipe = self._wakeup.read_fd if self._wakeup is not None else None
        if pipe is not None:
            fds = [*fds, pipe]
        if not fds:
            threading.Event().wait(timeout)
            return []
        readable, _, _ = select.select(fds, [], [], max(timeout, 0))
        return readable

    def _drain_pipe(self, readable: list[int]) -> None:
        if self._wakeup is not None and self._wakeup.read_fd in readable:
            self._wakeup.drain()


class PostgreSQLWaker(Waker):
    """Waits on the worker's own connection, which LISTENs on the django_dbq channel."""

    def __init__(self, alias: str, queue_name: str, wakeup: WakeupPipe | None = None):
        super().__init__(alias, wakeup)
        self.queue_name = queue_name
        self._listening_on: object = None
        # Notifications read while looking for another kind, kept for the one who asks.
        self._work_seen = False
        self._cancel_seen = False

    def listen(self) -> None:
        """LISTEN on the worker's connection (again after a reconnection); one identity check
        when it already does."""
        connection = connections[self.alias]
        with connection.wrap_database_errors:
            self._listening_connection()

    def cancels_arrived(self) -> bool:
        """Whether a cancel notice came since the last call: a poll of the connection's socket
        (microseconds), no round trip."""
        connection = connections[self.alias]
        raw = connection.connection
        if raw is None or raw is not self._listening_on:
            # Reconnected since the listen: notices may be lost, so answer "maybe".
            return True
        with connection.wrap_database_errors:
            self._read(raw)
        seen, self._cancel_seen = self._cancel_seen, False
        return seen

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
                cursor.execute(f"LISTEN {CANCEL_CHANNEL}")
            self._listening_on = raw
        return raw

    def _pending(self, raw) -> bool:
        """Consume received notifications; True when work arrived for this worker's queue."""
        self._read(raw)
        seen, self._work_seen = self._work_seen, False
        return seen

    def _read(self, raw) -> None:
        """Sort the notifications received so far (also those that came during queries)."""
        if callable(getattr(raw, "notifies", None)):  # psycopg 3
            notices = list(raw.notifies(timeout=0))
        else:  # psycopg2
            raw.poll()
            notices = list(raw.notifies)
            raw.notifies.clear()
        for notice in notices:
            if notice.channel == CANCEL_CHANNEL:
                self._cancel_seen = True
            elif notice.payload in (self.queue_name, ""):
                self._work_seen = True


def waker_for(alias: str, queue_name: str, wakeup: WakeupPipe | None = None) -> Waker:
    """The best waker the database offers; ``wakeup`` lets another thread end its waits."""
    if connections[alias].vendor == "postgresql":
        return PostgreSQLWaker(alias, queue_name, wakeup)
    return Waker(alias, wakeup)


def wake_queue(alias: str, queue_name: str) -> None:
    """Wake the idle workers of a queue now (PostgreSQL: NOTIFY on the workers' channel; other
    databases are polled, so their workers look within DBQ_POLL_INTERVAL anyway)."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, queue_name])
