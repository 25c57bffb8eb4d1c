"""The Django view that serves the metrics, for scraping the depth gauges from the web tier."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from . import INSTALL_HINT, available, depth_collector, prometheus_client


def metrics(request: HttpRequest) -> HttpResponse:
    """The default registry in Prometheus' text format: the depth gauges, and whatever else this
    process counts. Not protected: route it where only the scraper reaches it."""
    if not available():
        return HttpResponse(INSTALL_HINT, status=501, content_type="text/plain")
    registry = prometheus_client.REGISTRY
    depth_collector(registry)
    return HttpResponse(
        prometheus_client.generate_latest(registry),
        content_type=prometheus_client.CONTENT_TYPE_LATEST,
    )
