"""Prometheus metrics: counted from the engine's signals only once enabled, served over HTTP,
depth read at scrape time."""

import datetime
import io
import socket
import urllib.request

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone

from django_dbq import instruments, metrics, signals
from django_dbq.models import Job, JobState
from django_dbq.periodic.rescue import rescue_expired_leases
from django_dbq.testing import drain

prometheus_client = pytest.importorskip(
    "prometheus_client", reason="prometheus-client is not installed (the prometheus extra)"
)
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def registry():
    registry = prometheus_client.CollectorRegistry()
    metrics.enable(registry)
    yield registry
    metrics.disable()


@pytest.fixture
def served(registry):
    """Scrape the metrics served by metrics.serve() on a free port of 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server, thread = metrics.serve(port, addr="127.0.0.1", queues=["default"], registry=registry)

    def scrape() -> dict[tuple, float]:
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        return {
            (sample.name, *sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    yield scrape
    server.shutdown()
    server.server_close()
    thread.join(10)


def labels(job: str = "three_steps", queue: str = "default") -> list:
    return [("job", job), ("queue", queue)]


def test_a_drain_is_counted_and_served_over_http(served):
    Job.objects.enqueue_many([Job(name="three_steps", workspace={"n": 0}) for _ in range(5)])

    drain()
    scraped = served()

    assert scraped[("django_dbq_steps_started_total", *labels())] == 15
    assert scraped[("django_dbq_steps_succeeded_total", *labels())] == 15
    assert scraped[("django_dbq_jobs_completed_total", *labels())] == 5
    assert scraped[("django_dbq_step_duration_seconds_count", *labels())] == 15
    assert scraped[("django_dbq_claim_duration_seconds_count", ("queue", "default"))] >= 1
    assert scraped[("django_dbq_jobs", ("queue", "default"), ("state", "NEW"))] == 0
    assert scraped[("django_dbq_jobs", ("queue", "default"), ("state", "READY"))] == 0
    assert scraped[("django_dbq_oldest_waiting_seconds", ("queue", "default"))] == 0


def test_depth_gauges_count_active_jobs_and_the_oldest_wait(served):
    hour_ago = timezone.now() - datetime.timedelta(hours=1)
    Job.objects.create(name="basic", queue_name="emails", created=hour_ago)
    Job.objects.create(name="basic", queue_name="emails")
    later = Job.objects.create(name="basic", queue_name="emails", created=hour_ago)
    Job.objects.filter(pk=later.pk).update(run_after=timezone.now() + datetime.timedelta(days=1))
    done = Job.objects.create(name="basic", queue_name="emails")
    Job.objects.filter(pk=done.pk).update(state=JobState.COMPLETED)

    scraped = served()

    assert scraped[("django_dbq_jobs", ("queue", "emails"), ("state", "NEW"))] == 3
    assert ("django_dbq_jobs", ("queue", "emails"), ("state", "COMPLETED")) not in scraped
    assert 3500 < scraped[("django_dbq_oldest_waiting_seconds", ("queue", "emails"))] < 3700


def test_a_database_outage_leaves_the_depth_gauges_empty_and_the_counters_served(
    served, monkeypatch, caplog
):
    Job.objects.enqueue_many([Job(name="basic") for _ in range(2)])
    drain()

    def unreachable(now):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(metrics.collectors.DepthCollector, "_query", staticmethod(unreachable))
    scraped = served()

    assert scraped[("django_dbq_jobs_completed_total", *labels("basic"))] == 2
    assert not [key for key in scraped if key[0] == "django_dbq_jobs"]
    assert "event=metrics_depth_failed" in caplog.text


def test_failures_and_retries_are_counted(registry):
    Job.objects.create(name="failing")
    Job.objects.create(name="retrying", workspace={"succeed_on": 2})

    drain()
    Job.objects.filter(name="retrying").update(run_after=None)
    drain()

    def value(name, job):
        return registry.get_sample_value(name, {"queue": "default", "job": job})

    assert value("django_dbq_steps_failed_total", "failing") == 1
    assert value("django_dbq_jobs_failed_total", "failing") == 1
    assert value("django_dbq_steps_retried_total", "retrying") == 1
    assert value("django_dbq_steps_succeeded_total", "retrying") == 1


def test_rescues_are_counted(registry):
    job = Job.objects.create(name="basic")
    Job.objects.filter(pk=job.pk).update(
        state=JobState.PROCESSING,
        lease_owner="dead:1:aa",
        lease_expires_at=timezone.now() - datetime.timedelta(seconds=1),
    )

    rescue_expired_leases()

    assert registry.get_sample_value("django_dbq_rescues_total", {"outcome": "requeued"}) == 1


def test_nothing_is_connected_unless_metrics_are_enabled():
    assert not signals.step_started.receivers and not signals.step_finished.receivers
    assert instruments.on_claim is None and instruments.on_rescue is None


def test_disable_disconnects_the_receivers(registry):
    assert signals.step_started.receivers and instruments.on_claim is not None
    metrics.disable()
    assert not signals.step_started.receivers and instruments.on_claim is None


def test_the_django_view_serves_the_depth_gauges(client, settings):
    settings.ROOT_URLCONF = "tests.urls_metrics"
    Job.objects.create(name="basic", queue_name="reports")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert 'django_dbq_jobs{queue="reports",state="NEW"} 1.0' in response.content.decode()


def test_without_prometheus_client_the_worker_says_what_to_install(monkeypatch):
    monkeypatch.setattr(metrics, "prometheus_client", None)
    with pytest.raises(CommandError, match=r"pip install 'django-db-queue\[prometheus\]'"):
        call_command("worker", "--burst", "--metrics-port", "9999", stdout=io.StringIO())
