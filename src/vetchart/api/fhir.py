"""FHIR's HTTP conventions for the routes under ``/fhir/R4`` (api/routers/fhir.py): answers
are ``application/fhir+json``, and every error is an ``OperationOutcome`` (not
problem+json) with the status the JSON API would answer (``api/problems.py`` decides
it: ``status_for``). A refusal (403, or 404 from scope) leaves its ``denied`` audit row
through the same handler as the JSON API's (``api/denials.py``).

The routes use :class:`FhirRoute`, which answers errors raised while the request is
handled (authentication, the services' domain errors, malformed parameters) itself;
everything else (no route matched, a body over its cap) keeps the app's problem+json.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from vetchart.api.denials import record_denial
from vetchart.api.presenters.fhir import operation_outcome
from vetchart.api.problems import RATE_LIMIT_STATE_KEY, status_for
from vetchart.domain import errors as e

FHIR_MEDIA_TYPE = "application/fhir+json; charset=utf-8"
FHIR_PREFIX = "/fhir/R4"


class FhirResponse(Response):
    media_type = FHIR_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def fhir_response(
    content: Mapping[str, Any],
    base: Response | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> FhirResponse:
    """A resource as the answer, with the headers the route's dependencies set on
    ``base`` (``RateLimit-*``)."""
    answer = FhirResponse(content, status_code=status_code, headers=dict(headers or {}))
    if base is not None:
        answer.headers.update(base.headers)
    return answer


def outcome_response(
    request: Request,
    status: int,
    detail: str,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> FhirResponse:
    answer = fhir_response(
        operation_outcome(status, detail, code), status_code=status, headers=headers
    )
    limits: dict[str, str] | None = getattr(request.state, RATE_LIMIT_STATE_KEY, None)
    for name, value in (limits or {}).items():
        answer.headers.setdefault(name, value)
    return answer


def _invalid(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()))
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "Invalid request parameters: " + "; ".join(parts)


async def _domain_error(request: Request, error: e.DomainError) -> FhirResponse:
    await record_denial(request, error)
    # A search parameter that is not what FHIR allows is a 400 there, not a 422.
    status = 400 if isinstance(error, e.RuleViolation) else status_for(error)
    headers: dict[str, str] = {}
    if isinstance(error, e.Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = getattr(error, "retry_after_seconds", None)
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    return outcome_response(request, status, error.detail, error.code, headers)


class FhirRoute(APIRoute):
    """A route whose errors are OperationOutcomes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_fhir(request: Request) -> Response:
            try:
                return await handle(request)
            except e.DomainError as error:
                return await _domain_error(request, error)
            except RequestValidationError as error:
                return outcome_response(request, 400, _invalid(error), "invalid-parameters")
            except StarletteHTTPException as error:
                detail = error.detail if isinstance(error.detail, str) else "Request refused."
                return outcome_response(request, error.status_code, detail, None, error.headers)

        return handle_fhir
