"""Prometheus metrics, one registry per application instance."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PoolStatsLike(Protocol):
    @property
    def size(self) -> int: ...
    @property
    def checked_out(self) -> int: ...
    @property
    def overflow(self) -> int: ...
    @property
    def checked_in(self) -> int: ...


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "vetchart_http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "vetchart_http_request_duration_seconds",
            "HTTP request latency by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        labels = {"method": method, "route": route, "status": str(status)}
        self.requests.labels(**labels).inc()
        self.latency.labels(**labels).observe(seconds)


class PoolCollector(Collector):
    """Database pool gauges, read at scrape time."""

    def __init__(self, stats: Callable[[], PoolStatsLike | None]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        if stats is None:
            return
        for name, value, help_text in (
            ("vetchart_db_pool_size", stats.size, "Configured size of the database pool."),
            ("vetchart_db_pool_checked_out", stats.checked_out, "Connections in use."),
            ("vetchart_db_pool_checked_in", stats.checked_in, "Idle pooled connections."),
            ("vetchart_db_pool_overflow", stats.overflow, "Connections beyond the pool size."),
        ):
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], float(value))
            yield gauge
