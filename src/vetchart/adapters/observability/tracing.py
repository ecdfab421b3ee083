"""OpenTelemetry tracing: off by default; OTLP/HTTP export when an endpoint is set.

Instruments incoming requests (ASGI), database calls (SQLAlchemy) and outgoing HTTP
(httpx); ``OpenTelemetryMiddleware`` is re-exported for the app factory. Log lines
carry the trace id (see logging.py).
"""

from __future__ import annotations

import weakref

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.sqlalchemy.version import __version__ as _sqlalchemy_otel_version
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.semconv.metrics import MetricInstruments
from sqlalchemy.engine import Engine
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


_INSTRUMENTED_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def instrument_engine(engine: AsyncEngine, provider: TracerProvider) -> None:
    """Trace this engine's statements with ``provider`` (once per engine).

    The tracer is attached to the engine itself (SQLAlchemy event listeners), not through
    ``SQLAlchemyInstrumentor().instrument(engine=...)``: that instrumentor is a process-wide
    singleton, so a second app in one process silently got no database spans; it also
    patches ``create_engine`` and ``Engine.connect`` globally; and it refuses to instrument
    anything (logging an error) when SQLAlchemy is outside its declared version range,
    which SQLAlchemy 2.1 is.
    """
    sync_engine = engine.sync_engine
    if sync_engine in _INSTRUMENTED_ENGINES:
        return
    name = "opentelemetry.instrumentation.sqlalchemy"
    tracer = trace.get_tracer(name, _sqlalchemy_otel_version, provider)
    connections_usage = metrics.get_meter(name, _sqlalchemy_otel_version).create_up_down_counter(
        name=MetricInstruments.DB_CLIENT_CONNECTIONS_USAGE,
        unit="connections",
        description="The number of connections that are currently in state described by "
        "the state attribute.",
    )
    EngineTracer(tracer, sync_engine, connections_usage)  # type: ignore[no-untyped-call]
    _INSTRUMENTED_ENGINES.add(sync_engine)


def instrument_httpx(provider: TracerProvider) -> None:
    """Trace outgoing httpx calls with ``provider``.

    The instrumentor is process-wide and ignores a second ``instrument()``: re-instrument,
    so the latest provider (the running app's; an earlier one may be shut down) is used.
    """
    instrumentor = HTTPXClientInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=provider)


def tracer(provider: TracerProvider | None) -> trace.Tracer:
    return (provider or trace.get_tracer_provider()).get_tracer("vetchart")
