"""Response classes: JSON with an explicit charset; RFC 9457 problem documents."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

JSON_MEDIA_TYPE = "application/json; charset=utf-8"
PROBLEM_MEDIA_TYPE = "application/problem+json; charset=utf-8"
PROBLEM_TYPE_BASE = "https://vetchart.example/problems/"


class JsonResponse(JSONResponse):
    media_type = JSON_MEDIA_TYPE


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str,
    request_id: str | None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
        **extra,
    }
    return ProblemResponse(body, status_code=status, headers=headers)
