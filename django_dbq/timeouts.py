"""Bounding a step's run time with SIGALRM (Unix, main thread)."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

from .exceptions import StepTimeout

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise StepTimeout inside the block once it has run for ``seconds``.

    Only the main thread of a process receives signals, so elsewhere (and on platforms without
    SIGALRM) the limit is not enforced and a warning is logged.
    """
    if not seconds:
        yield
        return
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        logger.warning("event=timeout_not_enforced seconds=%s reason=not_main_thread", seconds)
        yield
        return

    def on_alarm(signum, frame):
        raise StepTimeout(f"step exceeded its timeout of {seconds:g} seconds")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
