"""The composition root: builds the adapters from settings (``adapters``), wires the
services over them (``services``: the ``Container``) and the worker (``worker``), once,
for the app, the worker and tests. Entrypoints import what they need from here."""

from vetchart.adapters.ai.breaker import circuit_state_collector
from vetchart.adapters.observability.tracing import OpenTelemetryMiddleware as TracingMiddleware
from vetchart.adapters.security.passwords import hash_pool_collector
from vetchart.bootstrap.adapters import (
    PoolStats,
    build_dashboard_cache,
    build_mailer,
    build_storage,
    build_tracer_provider,
)
from vetchart.bootstrap.services import (
    Container,
    build_container,
    demo_seeders,
    lockout_policy,
)
from vetchart.bootstrap.worker import Worker

__all__ = [
    "Container",
    "PoolStats",
    "TracingMiddleware",
    "Worker",
    "build_container",
    "build_dashboard_cache",
    "build_mailer",
    "build_storage",
    "build_tracer_provider",
    "circuit_state_collector",
    "demo_seeders",
    "hash_pool_collector",
    "lockout_policy",
]
