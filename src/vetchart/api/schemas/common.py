"""Shared schema pieces."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class RequestModel(BaseModel):
    """Request bodies refuse unknown fields (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ListResponse(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class ProblemDetail(BaseModel):
    """RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None
    errors: list[dict[str, Any]] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error responses an operation can give."""
    descriptions = {
        400: "Bad request (e.g. an invalid cursor).",
        401: "Missing, invalid or expired credentials.",
        403: "Visible, but the action is not allowed for the caller.",
        404: "Not found, or outside the caller's scope.",
        409: "Conflicts with the current state.",
        410: "Gone (used or expired).",
        412: "The If-Match version is stale.",
        413: "The upload is too large.",
        415: "The content type is not accepted.",
        422: "Validation or business rule failed (the rule is named).",
        500: "Unexpected error (no internals disclosed; quote the request id).",
        423: "Locked after too many failed attempts.",
        428: "If-Match is required.",
        429: "Rate limited; see Retry-After.",
        503: "A dependency is unavailable.",
    }
    return {
        status: {
            "description": descriptions.get(status, "Error"),
            "model": ProblemDetail,
            "content": {"application/problem+json": {}},
        }
        for status in statuses
    }
