"""Django signals sent as jobs move, so projects can hook metrics and error reporting.

Every signal is sent with ``sender=Job`` and ``job=<the Job>``.
"""

import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

# A job was saved for the first time (enqueued).
job_enqueued = Signal()
# A worker is about to run a step; ``step`` is its index, ``task`` its import path.
step_started = Signal()
# A step ended; ``outcome`` is one of the StepOutcome kinds ("advanced", "completed", ...),
# ``duration`` the seconds it ran (hooks included). Sent once its outcome is written.
step_finished = Signal()
# A running step's progress report was written (at most one per job every 0.5 s, see
# running.py): ``done``, ``total`` (None when unknown) and ``message``.
job_progress = Signal()
# The job's last step succeeded.
job_completed = Signal()
# The job failed for good; ``error`` is the exception.
job_failed = Signal()


def send(signal: Signal, **kwargs) -> None:
    """Send a signal from the engine; a receiver that raises is logged, never fatal.

    A receiver's exception must not crash a worker or its heartbeat thread: that would stop
    lease renewal and get a running step rescued and run twice.
    """
    # Most projects connect no receivers, and this runs for every job enqueued: with none
    # connected there is nothing to call (Signal.send_robust would return [] too).
    if not signal.receivers:
        return
    from .models import Job  # models imports this module

    for receiver, result in signal.send_robust(sender=Job, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "event=signal_receiver_failed receiver=%r error=%r",
                receiver,
                result,
                exc_info=result,
            )
