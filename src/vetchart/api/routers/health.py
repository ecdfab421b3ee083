"""Service endpoints: liveness, readiness, metrics.

``/metrics`` is guarded by ``VETCHART_METRICS_TOKEN``: when it is set, a scrape must send
``Authorization: Bearer <token>`` (compared in constant time; else 401). When it is unset,
production answers 404 (as for a path that does not exist), and development and test
leave it open.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from vetchart.api.dependencies import HealthDep
from vetchart.api.responses import JsonResponse
from vetchart.api.route_audit import audited
from vetchart.api.schemas.common import problem_responses
from vetchart.config import Settings
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import NotFound, NotReady, Unauthenticated

router = APIRouter(tags=["service"])


class Liveness(BaseModel):
    status: str


class Check(BaseModel):
    name: str
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: str
    checks: list[Check]


_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "Not ready: a check failed (named in the problem's `checks`).",
        "content": {"application/problem+json": {}},
    }
}


@audited(AuditAction.HEALTH_LIVE)
@router.get("/health/live", response_model=Liveness, summary="The process is up")
async def live() -> Liveness:
    return Liveness(status="ok")


@audited(AuditAction.HEALTH_READY)
@router.get(
    "/health/ready",
    response_model=Readiness,
    summary="The database answers and its schema is at the migration head",
    responses=_NOT_READY,
)
async def ready(health: HealthDep) -> Response:
    readiness = await health.readiness()
    checks = [Check(name=c.name, ok=c.ok, detail=c.detail).model_dump() for c in readiness.checks]
    failing = readiness.failing
    if failing:
        raise NotReady(failing, checks)
    return JsonResponse({"status": "ok", "checks": checks})


@audited(AuditAction.METRICS_READ)
@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    description="With `VETCHART_METRICS_TOKEN` set, send `Authorization: Bearer <token>` "
    "(401 otherwise). Without it, production answers 404; development and test are open.",
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"},
        **problem_responses(401, 404),
    },
)
async def metrics(request: Request) -> Response:
    _allow_scrape(request.app.state.settings, request.headers.get("authorization"))
    payload = generate_latest(request.app.state.metrics_registry)
    return Response(payload, media_type=CONTENT_TYPE_LATEST)


def _allow_scrape(settings: Settings, authorization: str | None) -> None:
    token = settings.observability.metrics_token
    if token is None:
        if settings.is_production:
            raise NotFound("Not Found")
        return
    scheme, _, presented = (authorization or "").partition(" ")
    expected = token.get_secret_value().encode("utf-8")
    # Always compare (even without a bearer credential), so the answer's timing tells
    # nothing about the token.
    matches = hmac.compare_digest(presented.strip().encode("utf-8", "replace"), expected)
    if not (matches and scheme.lower() == "bearer"):
        raise Unauthenticated("A valid metrics token is required.")
