"""Prometheus metrics of the engine: the optional extra ``django-db-queue[prometheus]``.

Nothing here costs anything until ``enable()`` is called (``manage.py worker --metrics-port``
calls it): only then are receivers connected to the engine's signals and its observers
(instruments.py) set. Every metric is listed in docs/reference.md ("Metrics").
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from ..exceptions import DbqError

try:
    import prometheus_client
except ImportError:  # the extra is not installed; enable() and serve() say so
    prometheus_client = None

if prometheus_client is not None:
    from .collectors import DepthCollector, EngineMetrics

__all__ = ["MetricsUnavailable", "available", "depth_collector", "disable", "enable", "serve"]

INSTALL_HINT = (
    "metrics need the prometheus-client package: pip install 'django-db-queue[prometheus]'"
)

_lock = threading.Lock()
_enabled: EngineMetrics | None = None
# One depth collector per registry (a second would repeat its series).
_depth: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class MetricsUnavailable(DbqError):
    """prometheus-client is not installed."""


def available() -> bool:
    """Whether prometheus-client is installed."""
    return prometheus_client is not None


def _require() -> None:
    if prometheus_client is None:
        raise MetricsUnavailable(INSTALL_HINT)


def enable(registry: Any = None) -> EngineMetrics:
    """Count this process's steps, jobs, rescues and claims in ``registry`` (default: the
    global one); connects the receivers once. Returns the metrics."""
    global _enabled
    _require()
    with _lock:
        if _enabled is None:
            _enabled = EngineMetrics(registry or prometheus_client.REGISTRY)
            _enabled.connect()
        return _enabled


def disable() -> None:
    """Disconnect the receivers and observers (the metrics keep their values)."""
    global _enabled
    with _lock:
        if _enabled is not None:
            _enabled.disconnect()
            _enabled = None


def depth_collector(
    registry: Any = None, queues: list[str] | None = None, close_connections: bool = False
) -> DepthCollector:
    """The per-queue depth gauges of ``registry`` (added on first use), computed at scrape time."""
    _require()
    registry = registry or prometheus_client.REGISTRY
    with _lock:
        collector = _depth.get(registry)
        if collector is None:
            collector = _depth[registry] = DepthCollector(close_connections)
            registry.register(collector)
        collector.remember(queues or [])
        return collector


def serve(port: int, addr: str = "0.0.0.0", queues: list[str] | None = None, registry=None):
    """Serve ``registry`` over HTTP on ``port`` from a thread of this process, with the engine's
    counters and the depth gauges; returns prometheus_client's (server, thread)."""
    _require()
    registry = registry or prometheus_client.REGISTRY
    enable(registry)
    # The server runs each scrape on a new thread: close its database connection afterwards.
    depth_collector(registry, queues, close_connections=True)
    return prometheus_client.start_http_server(port, addr=addr, registry=registry)
