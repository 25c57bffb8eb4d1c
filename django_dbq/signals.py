"""Django signals sent as jobs move, so projects can hook metrics and error reporting.

Every signal is sent with ``sender=Job`` and ``job=<the Job>``.
"""

from django.dispatch import Signal

# A job was saved for the first time (enqueued).
job_enqueued = Signal()
# A worker is about to run a step; ``step`` is its index, ``task`` its import path.
step_started = Signal()
# A step ended; ``outcome`` is one of the StepOutcome kinds ("advanced", "completed", ...).
step_finished = Signal()
# The job's last step succeeded.
job_completed = Signal()
# The job failed for good; ``error`` is the exception.
job_failed = Signal()
