"""OpenTelemetry: one span per step when opentelemetry-api is installed (never required).

Resolved once, at import: without opentelemetry-api, TRACER is None and executor.run_step is not
wrapped, so a step pays nothing. With the API alone (no SDK configured) spans are no-ops.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import trace
except ImportError:  # the optional opentelemetry-api is not installed
    trace = None

from .outcomes import FAILED, RETRYING

if TYPE_CHECKING:
    from .outcomes import StepOutcome

SPAN_NAME = "django_dbq.step"
# Outcomes whose span is marked as an error: the step raised.
ERROR_OUTCOMES = (FAILED, RETRYING)

# A ProxyTracer: it follows the TracerProvider a project sets later, at startup.
TRACER = trace.get_tracer("django_dbq") if trace is not None else None


def traced(run_step: Callable[..., StepOutcome]) -> Callable[..., StepOutcome]:
    """``run_step`` inside a span ``django_dbq.step`` with the job's name, id, queue, step
    (1-based, as in the logs), attempt and, at the end, the outcome."""

    @functools.wraps(run_step)
    def run_traced_step(job: Any, *args: Any, **kwargs: Any) -> StepOutcome:
        attributes = {
            "django_dbq.job.name": job.name,
            "django_dbq.job.id": str(job.pk),
            "django_dbq.queue": job.queue_name,
            "django_dbq.step": job.step + 1,
            "django_dbq.attempt": job.attempts,
        }
        with TRACER.start_as_current_span(
            SPAN_NAME, kind=trace.SpanKind.CONSUMER, attributes=attributes
        ) as span:
            outcome = run_step(job, *args, **kwargs)
            span.set_attribute("django_dbq.outcome", outcome.kind)
            if outcome.kind in ERROR_OUTCOMES:
                span.set_status(trace.Status(trace.StatusCode.ERROR))
            return outcome

    return run_traced_step
