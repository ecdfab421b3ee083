"""Pure-ASGI middleware, outermost first:

1. ``RequestContextMiddleware`` binds the request id to the context and logs, adds the
   security headers, refuses TRACE/TRACK, counts every request and its latency by route
   template and status (CORS preflights included), and is the last resort for errors
   raised by other middleware. (Metrics used to be a layer of their own; each layer costs
   every request a call and a wrapped ``send``.)
2. (CORS, from Starlette.)
3. (Body size caps, NUL in the URL, form charsets: api/bounded_input.py.)
4. (Idempotency keys, api/idempotency.py.)
5. ``ErrorMiddleware`` turns exceptions that escaped the routes into problem+json: a 503
   for infrastructure errors the adapters can name, a 422 for a value the database
   refused as data (SQLSTATE class 22), else a 500. Being inside CORS, those answers
   carry CORS headers, and they are counted with their real status.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vetchart.api.allow import allowed_methods
from vetchart.api.context import REQUEST_ID_HEADER, accept_or_make_request_id, request_id_var
from vetchart.api.metrics import HttpMetrics
from vetchart.api.problems import (
    domain_error_response,
    http_error_response,
    internal_error_response,
    status_for,
)
from vetchart.domain.errors import DomainError

log = structlog.get_logger("vetchart.http")

# Methods that echo requests back (cross-site tracing) are refused everywhere.
REFUSED_METHODS = frozenset({"TRACE", "TRACK"})

ErrorTranslator = Callable[[BaseException], DomainError | None]


def _with_utf8_charset(content_type: str) -> str:
    """JSON media types (``application/json``, ``application/*+json``) with an explicit
    charset: responses built outside our response classes (FastAPI's ``/openapi.json``,
    a plain ``JSONResponse``) would otherwise go out without one."""
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    is_json = media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
    if not is_json or "charset=" in params.lower():
        return content_type
    return f"{content_type.rstrip('; ')}; charset=utf-8"


def route_template(scope: Scope) -> str:
    """The matched route's full path template (bounded label cardinality for metrics)."""
    # FastAPI keeps included routers nested: the full template (with every prefix) is on
    # the effective route context; the route object itself has only its own part.
    context = scope.get("fastapi", {}).get("effective_route_context")
    full = getattr(context, "path_format", None)
    if isinstance(full, str):
        return full
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


def _error_response(error: Exception, path: str, translator: ErrorTranslator | None) -> Response:
    """The problem+json answer to an exception no route handled: a 503 for the
    infrastructure errors the adapters can name, a 422 for data the database refused,
    else a bare 500 (logged with its trace)."""
    domain_error = translator(error) if translator is not None else None
    if domain_error is not None:
        event = "http.unavailable" if status_for(domain_error) == 503 else "http.data_refused"
        log.warning(event, error=type(error).__name__, detail=domain_error.detail)
        return domain_error_response(domain_error, path)
    log.exception("http.unhandled_error")
    return internal_error_response(path)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

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
                content_type = out.get("content-type")
                if content_type is not None:
                    normalised = _with_utf8_charset(content_type)
                    if normalised != content_type:
                        out["content-type"] = normalised
                if is_api:
                    out["Cache-Control"] = "no-store"
                    out.setdefault("X-Frame-Options", "DENY")
            await send(message)

        try:
            if scope["method"] in REFUSED_METHODS:
                allow = ", ".join(allowed_methods(scope["app"], path))
                await http_error_response(
                    405, "Method not allowed.", path, headers={"Allow": allow}
                )(scope, receive, send_with_headers)
                return
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            if "status" in status_holder:
                log.exception("http.error_after_response_started")
                raise
            await _error_response(error, path, None)(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            status = status_holder.get("status", 500)
            self.metrics.observe(
                method=scope["method"], route=route, status=status, seconds=seconds
            )
            log.info(
                "http.request",
                method=scope["method"],
                path=path,
                route=route,
                status=status,
                duration_ms=round(seconds * 1000, 2),
            )
            request_id_var.reset(token)
            structlog.contextvars.clear_contextvars()


class ErrorMiddleware:
    """Exceptions that escaped the routes become problem+json (503 or 500)."""

    def __init__(self, app: ASGIApp, *, translate_error: Callable[[], ErrorTranslator | None]):
        self.app = app
        self._translate_error = translate_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started: dict[str, bool] = {}

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started["yes"] = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if started:
                raise
            response = _error_response(error, scope.get("path", ""), self._translate_error())
            await response(scope, receive, send)
