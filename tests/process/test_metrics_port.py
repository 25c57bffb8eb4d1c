"""A real `manage.py worker --metrics-port` serves its counts while it runs."""

import signal
import socket
import urllib.request

import pytest

from django_dbq.models import Job, JobState
from tests.process.test_shutdown import exit_code, wait_for

pytest.importorskip(
    "prometheus_client", reason="prometheus-client is not installed (the prometheus extra)"
)
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int) -> dict[tuple, float] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None  # not listening yet
    return {
        (sample.name, *sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_worker_serves_the_counts_of_what_it_ran(manage):
    Job.objects.enqueue_many([Job(name="three_steps", workspace={"n": 0}) for _ in range(5)])
    port = free_port()
    worker = manage("worker", "--metrics-port", str(port), "--poll-interval", "0.1")
    labels = (("job", "three_steps"), ("queue", "default"))
    completed = ("django_dbq_jobs_completed_total", *labels)

    wait_for(lambda: (scrape(port) or {}).get(completed) == 5, "5 jobs counted as completed")
    scraped = scrape(port)
    worker.send_signal(signal.SIGTERM)

    assert exit_code(worker) == 0
    assert scraped[("django_dbq_steps_succeeded_total", *labels)] == 15
    assert scraped[("django_dbq_jobs", ("queue", "default"), ("state", "NEW"))] == 0
    assert scraped[("django_dbq_jobs", ("queue", "default"), ("state", "READY"))] == 0
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.COMPLETED}
