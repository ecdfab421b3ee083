"""OpenTelemetry tracing: off by default; OTLP/HTTP export when an endpoint is set.

Instruments incoming requests (ASGI), database calls (SQLAlchemy) and outgoing HTTP
(httpx); ``OpenTelemetryMiddleware`` is re-exported for the app factory. Log lines
carry the trace id (see logging.py).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "OpenTelemetryMiddleware",
    "build_tracer_provider",
    "instrument_engine",
    "instrument_httpx",
]


def build_tracer_provider(
    *, service_name: str, endpoint: str | None, extra_processor: SpanProcessor | None = None
) -> TracerProvider | None:
    """A provider exporting to ``endpoint`` (OTLP/HTTP), or None when tracing is off."""
    if endpoint is None and extra_processor is None:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if endpoint is not None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        traces_url = endpoint.rstrip("/")
        if not traces_url.endswith("/v1/traces"):
            traces_url += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    return provider


def instrument_engine(engine: AsyncEngine, provider: TracerProvider) -> None:
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, tracer_provider=provider)


def instrument_httpx(provider: TracerProvider) -> None:
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)


def tracer(provider: TracerProvider | None) -> trace.Tracer:
    return (provider or trace.get_tracer_provider()).get_tracer("vetchart")
