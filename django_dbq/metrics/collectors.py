"""The metrics themselves; imported only when prometheus-client is installed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.db import DatabaseError, connections, router
from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .. import instruments, outcomes, signals
from ..models import Job
from ..states import ACTIVE_STATES, WAITING_STATES

logger = logging.getLogger(__name__)

STEP_LABELS = ("queue", "job")
# Steps of a few milliseconds to steps of an hour.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
# A claim is one statement: a millisecond when healthy, seconds when the database struggles.
CLAIM_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Steps started whose end was never seen (their worker lost the database) are forgotten past this.
MAX_OPEN_STEPS = 10_000
ABANDONED = {outcomes.CANCELLED, outcomes.LOST, outcomes.DELETED}


class EngineMetrics:
    """Counters and histograms of one process, fed by the engine's signals and observers."""

    def __init__(self, registry: Any):
        def counter(name: str, doc: str, labels: Iterable[str] = STEP_LABELS) -> Counter:
            return Counter(f"django_dbq_{name}", doc, list(labels), registry=registry)

        self.steps_started = counter("steps_started", "Steps started.")
        self.steps_succeeded = counter("steps_succeeded", "Steps that succeeded.")
        self.steps_failed = counter("steps_failed", "Steps that failed with no attempt left.")
        self.steps_retried = counter("steps_retried", "Steps that failed and will be retried.")
        self.steps_abandoned = counter(
            "steps_abandoned",
            "Steps whose job was cancelled, taken over or deleted while they ran.",
            [*STEP_LABELS, "outcome"],
        )
        self.jobs_completed = counter("jobs_completed", "Jobs whose last step succeeded.")
        self.jobs_failed = counter("jobs_failed", "Jobs that failed for good.")
        self.rescues = counter(
            "rescues",
            "Jobs whose lease expired (their worker died), by what became of them.",
            ["outcome"],
        )
        self.step_duration = Histogram(
            "django_dbq_step_duration_seconds",
            "From a step's start to its outcome being written.",
            list(STEP_LABELS),
            buckets=STEP_BUCKETS,
            registry=registry,
        )
        self.claim_duration = Histogram(
            "django_dbq_claim_duration_seconds",
            "Time of one claim query of a worker loop.",
            ["queue"],
            buckets=CLAIM_BUCKETS,
            registry=registry,
        )
        # (job id, step index) -> time.perf_counter() at its start; shared by a process's threads.
        self._open: dict[tuple[Any, int], float] = {}

    def connect(self) -> None:
        """Connect the receivers and observers."""
        uid = f"django_dbq.metrics.{id(self)}"
        signals.step_started.connect(self.step_started, weak=False, dispatch_uid=uid)
        signals.step_finished.connect(self.step_finished, weak=False, dispatch_uid=uid)
        signals.job_completed.connect(self.job_completed, weak=False, dispatch_uid=uid)
        signals.job_failed.connect(self.job_failed, weak=False, dispatch_uid=uid)
        instruments.on_claim = self.claimed
        instruments.on_rescue = self.rescued

    def disconnect(self) -> None:
        """Disconnect what connect() connected."""
        uid = f"django_dbq.metrics.{id(self)}"
        for signal in (
            signals.step_started,
            signals.step_finished,
            signals.job_completed,
            signals.job_failed,
        ):
            signal.disconnect(dispatch_uid=uid)
        if instruments.on_claim == self.claimed:
            instruments.on_claim = None
        if instruments.on_rescue == self.rescued:
            instruments.on_rescue = None

    def step_started(self, sender: Any, job: Job, step: int, **kwargs: Any) -> None:
        """Receiver of signals.step_started."""
        self.steps_started.labels(job.queue_name, job.name).inc()
        if len(self._open) >= MAX_OPEN_STEPS:
            self._open.clear()
        self._open[(job.pk, step)] = time.perf_counter()

    def step_finished(self, sender: Any, job: Job, step: int, outcome: str, **kwargs: Any) -> None:
        """Receiver of signals.step_finished."""
        labels = (job.queue_name, job.name)
        started = self._open.pop((job.pk, step), None)
        if started is not None:
            self.step_duration.labels(*labels).observe(time.perf_counter() - started)
        if outcome in (outcomes.ADVANCED, outcomes.COMPLETED):
            self.steps_succeeded.labels(*labels).inc()
        elif outcome == outcomes.RETRYING:
            self.steps_retried.labels(*labels).inc()
        elif outcome == outcomes.FAILED:
            self.steps_failed.labels(*labels).inc()
        elif outcome in ABANDONED:
            self.steps_abandoned.labels(*labels, outcome).inc()

    def job_completed(self, sender: Any, job: Job, **kwargs: Any) -> None:
        """Receiver of signals.job_completed."""
        self.jobs_completed.labels(job.queue_name, job.name).inc()

    def job_failed(self, sender: Any, job: Job, **kwargs: Any) -> None:
        """Receiver of signals.job_failed."""
        self.jobs_failed.labels(job.queue_name, job.name).inc()

    def claimed(self, queue_name: str, seconds: float) -> None:
        """Observer of each claim (instruments.on_claim)."""
        self.claim_duration.labels(queue_name).observe(seconds)

    def rescued(self, requeued: int, cancelled: int, given_up: int) -> None:
        """Observer of each rescue (instruments.on_rescue)."""
        for outcome, count in (
            ("requeued", requeued),
            ("cancelled", cancelled),
            ("failed", given_up),
        ):
            if count:
                self.rescues.labels(outcome).inc(count)


class DepthCollector(Collector):
    """Jobs per queue and active state, and the oldest runnable job's age, read at scrape time.

    One grouped query over active states only (the claim's and rescue's partial indexes, or the
    state index, serve it): finished jobs, however many, are never read. A queue once seen keeps
    reporting (0 when empty), so its series does not vanish when the queue drains.
    """

    def __init__(self, close_connections: bool = False):
        self.close_connections = close_connections
        self._queues: set[str] = set()
        self._lock = threading.Lock()

    def remember(self, queues: Iterable[str]) -> None:
        """Report these queues even before they have jobs."""
        with self._lock:
            self._queues.update(queues)

    def describe(self) -> list[GaugeMetricFamily]:
        # Without describe() registering would run collect(), a query, at once.
        return self._families()

    def collect(self) -> list[GaugeMetricFamily]:
        depth, oldest = self._families()
        try:
            rows = list(self._query(timezone.now()))
        except DatabaseError as error:
            # The database is down: serve the families without samples, so a scrape still gets
            # the process's counters instead of an error page.
            logger.warning("event=metrics_depth_failed error=%r", error)
            connection = connections[router.db_for_read(Job)]
            if not connection.in_atomic_block:
                connection.close()  # the next scrape reconnects instead of reusing a broken one
            return [depth, oldest]
        finally:
            if self.close_connections:
                connections.close_all()  # this thread's own: the server runs one per scrape
        counts: dict[tuple[str, str], int] = {}
        ages: dict[str, float] = {}
        now = timezone.now()
        for row in rows:
            counts[(row["queue_name"], row["state"])] = row["n"]
            if row["oldest"] is not None:
                age = max((now - row["oldest"]).total_seconds(), 0.0)
                ages[row["queue_name"]] = max(age, ages.get(row["queue_name"], 0.0))
        with self._lock:
            self._queues.update(queue for queue, _ in counts)
            queues = sorted(self._queues)
        for queue in queues:
            for state in ACTIVE_STATES:
                depth.add_metric([queue, str(state)], counts.get((queue, str(state)), 0))
            oldest.add_metric([queue], ages.get(queue, 0.0))
        return [depth, oldest]

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "django_dbq_jobs", "Jobs per queue in each active state.", labels=["queue", "state"]
            ),
            GaugeMetricFamily(
                "django_dbq_oldest_waiting_seconds",
                "Age of the oldest runnable job per queue (0 when none waits).",
                labels=["queue"],
            ),
        ]

    @staticmethod
    def _query(now):
        runnable = Q(state__in=WAITING_STATES) & (Q(run_after__isnull=True) | Q(run_after__lte=now))
        return (
            Job.objects.order_by()
            .filter(state__in=ACTIVE_STATES)
            .values("queue_name", "state")
            .annotate(n=Count("pk"), oldest=Min("created", filter=runnable))
        )
