"""OpenTelemetry: with opentelemetry-api installed, each step runs in a span of its own."""

import pytest

from django_dbq import executor, tracing
from django_dbq.models import Job
from django_dbq.testing import drain

pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is not installed")
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

pytestmark = pytest.mark.django_db

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _provider():
    # The global provider can be set once per process; the tracer django_dbq got at import
    # follows it.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(provider)
    if trace.get_tracer_provider() is not provider:
        pytest.skip("another test set the global TracerProvider first")


@pytest.fixture(autouse=True)
def _clear_spans():
    EXPORTER.clear()


def spans() -> list:
    return [span for span in EXPORTER.get_finished_spans() if span.name == "django_dbq.step"]


def test_run_step_is_traced_when_opentelemetry_is_installed():
    assert tracing.TRACER is not None
    assert executor.run_step.__wrapped__ is not None


def test_each_step_has_a_span_with_the_job_the_step_and_the_outcome():
    job = Job.objects.create(name="three_steps", workspace={"n": 0})

    drain()

    assert [dict(span.attributes) for span in spans()] == [
        {
            "django_dbq.job.name": "three_steps",
            "django_dbq.job.id": str(job.pk),
            "django_dbq.queue": "default",
            "django_dbq.step": step,
            "django_dbq.attempt": 1,
            "django_dbq.outcome": outcome,
        }
        for step, outcome in ((1, "advanced"), (2, "advanced"), (3, "completed"))
    ]


def test_a_failed_step_is_an_error_span():
    Job.objects.create(name="failing")

    drain()

    (span,) = spans()
    assert span.attributes["django_dbq.outcome"] == "failed"
    assert span.status.status_code == trace.StatusCode.ERROR
