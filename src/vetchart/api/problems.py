"""Every error becomes application/problem+json (RFC 9457) here, and only here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from vetchart.api.allow import allowed_methods
from vetchart.api.context import current_request_id
from vetchart.api.responses import ProblemResponse, problem
from vetchart.domain import errors as e
from vetchart.domain import uploads

log = structlog.get_logger(__name__)

STATUS_BY_ERROR: dict[type[e.DomainError], int] = {
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.Gone: 410,
    e.PreconditionFailed: 412,
    e.RuleViolation: 422,
    e.Locked: 423,
    e.PreconditionRequired: 428,
    e.TooManyRequests: 429,
    e.Unavailable: 503,
    e.InvalidCursor: 400,
    e.ContentTooLarge: 413,
    e.IdempotencyKeyInvalid: 422,
    e.IdempotencyKeyReused: 422,
    e.IdempotencyKeyInProgress: 409,
    uploads.UploadRejected: 400,
    uploads.FileTooLarge: 413,
    uploads.UnsupportedMediaType: 415,
    uploads.NotMultipart: 415,
    uploads.MalformedForm: 400,
    uploads.UploadInterrupted: 400,
}


def status_for(error: e.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return "error"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def domain_error_response(error: e.DomainError, instance: str) -> ProblemResponse:
    status = status_for(error)
    headers: dict[str, str] = {}
    if isinstance(error, e.Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, e.ContentTooLarge):
        headers["Connection"] = "close"  # the rest of the body is not read
    retry_after = getattr(error, "retry_after_seconds", None)
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    return problem(
        status=status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        instance=instance,
        request_id=current_request_id(),
        headers=headers or None,
        **error.extra,
    )


def internal_error_response(instance: str) -> ProblemResponse:
    return problem(
        status=500,
        code="internal-error",
        title="Internal Server Error",
        detail="An unexpected error occurred. Quote the request id when reporting it.",
        instance=instance,
        request_id=current_request_id(),
    )


def http_error_response(
    status: int, detail: Any, instance: str, headers: dict[str, str] | None = None
) -> ProblemResponse:
    text = detail if isinstance(detail, str) and detail else _title(status)
    return problem(
        status=status,
        code=_slug(status),
        title=_title(status),
        detail=text,
        instance=instance,
        request_id=current_request_id(),
        headers=headers,
    )


def validation_error_response(
    errors: list[dict[str, Any]],
    instance: str,
    detail: str = "The request is not valid; see errors.",
) -> ProblemResponse:
    """The 422 of a request that does not have the expected shape (``errors`` lists each
    problem's ``loc``, ``msg`` and ``type``)."""
    return problem(
        status=422,
        code="validation-error",
        title="Validation error",
        detail=detail,
        instance=instance,
        request_id=current_request_id(),
        errors=errors,
    )


def _validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in error.errors():
        out.append(
            {
                "loc": [str(part) for part in item.get("loc", ())],
                "msg": str(item.get("msg", "")),
                "type": str(item.get("type", "")),
            }
        )
    return out


RATE_LIMIT_STATE_KEY = "rate_limit_headers"


def _with_rate_limit_headers(request: Request, response: Response) -> Response:
    """Error answers keep the RateLimit-* headers the request was counted with."""
    headers: dict[str, str] | None = getattr(request.state, RATE_LIMIT_STATE_KEY, None)
    for name, value in (headers or {}).items():
        response.headers.setdefault(name, value)
    return response


DomainErrorHook = Callable[[Request, e.DomainError], Awaitable[None]]


def install_problem_handlers(app: FastAPI, *, on_error: DomainErrorHook | None = None) -> None:
    """``on_error`` sees every domain error before it is answered (the audit of denials)."""

    async def on_domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, e.DomainError)
        if on_error is not None:
            await on_error(request, exc)
        return _with_rate_limit_headers(request, domain_error_response(exc, request.url.path))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Every method of every route on this path, not just the first route's.
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
        response = http_error_response(
            exc.status_code, exc.detail, request.url.path, headers or None
        )
        return _with_rate_limit_headers(request, response)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        response = validation_error_response(_validation_errors(exc), request.url.path)
        return _with_rate_limit_headers(request, response)

    app.add_exception_handler(e.DomainError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
