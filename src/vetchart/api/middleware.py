"""Pure-ASGI middleware: request context, security headers, last-resort errors, metrics."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vetchart.api.context import REQUEST_ID_HEADER, accept_or_make_request_id, request_id_var
from vetchart.api.metrics import HttpMetrics
from vetchart.api.problems import (
    domain_error_response,
    http_error_response,
    internal_error_response,
)
from vetchart.domain.errors import DomainError

log = structlog.get_logger("vetchart.http")

# Methods that echo requests back (cross-site tracing) are refused everywhere.
REFUSED_METHODS = frozenset({"TRACE", "TRACK"})

ErrorTranslator = Callable[[BaseException], DomainError | None]


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


class RequestContextMiddleware:
    """Binds the request id to the context and logs, adds security headers, and turns
    any exception that escaped the routes (or other middleware) into a problem+json 500
    (or 503 for infrastructure errors the adapters know how to name)."""

    def __init__(self, app: ASGIApp, *, translate_error: Callable[[], ErrorTranslator | None]):
        self.app = app
        self._translate_error = translate_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = Headers(scope=scope)
        request_id = accept_or_make_request_id(headers.get(REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        path: str = scope.get("path", "")
        is_api = path.startswith("/api/")
        started = time.perf_counter()
        status_holder: dict[str, int] = {}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                out = MutableHeaders(scope=message)
                out[REQUEST_ID_HEADER] = request_id
                out["X-Content-Type-Options"] = "nosniff"
                out["Referrer-Policy"] = "no-referrer"
                if "server" in out:
                    del out["server"]
                if is_api:
                    out["Cache-Control"] = "no-store"
                    out.setdefault("X-Frame-Options", "DENY")
            await send(message)

        try:
            if scope["method"] in REFUSED_METHODS:
                await http_error_response(405, "Method not allowed.", path)(
                    scope, receive, send_with_headers
                )
                return
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            if "status" in status_holder:
                log.exception("http.error_after_response_started")
                raise
            translator = self._translate_error()
            domain_error = translator(error) if translator is not None else None
            if domain_error is not None:
                log.warning(
                    "http.unavailable", error=type(error).__name__, detail=domain_error.detail
                )
                response = domain_error_response(domain_error, path)
            else:
                log.exception("http.unhandled_error")
                response = internal_error_response(path)
            await response(scope, receive, send_with_headers)
        finally:
            log.info(
                "http.request",
                method=scope["method"],
                path=path,
                route=_route_template(scope),
                status=status_holder.get("status", 500),
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            request_id_var.reset(token)


class MetricsMiddleware:
    """Counts requests and records latency by method, route template and status."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.observe(
                method=scope["method"],
                route=_route_template(scope),
                status=status["code"],
                seconds=time.perf_counter() - started,
            )
