"""Shared schema pieces."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from vetchart.api.schemas.bounded import refuse_unstorable

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")


class RequestModel(BaseModel):
    """Request bodies refuse unknown fields (no mass assignment), and anything PostgreSQL
    could not store: a NUL or an unpaired surrogate in any string, keys included, and NaN
    or Infinity in any number, however deep (422 naming where; api/schemas/bounded.py)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return refuse_unstorable(data)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def from_object(cls, source: object, **given: Any) -> Self:
        """The response read from ``source``'s attributes of its field names (properties
        too), with ``given`` in place of the fields ``source`` has not, or presents
        otherwise."""
        read = {name: getattr(source, name) for name in cls.model_fields if name not in given}
        return cls.model_validate(read | given)


def response_from(response: type[D], source: object) -> D:
    """The response dataclass ``response`` read from ``source``'s attributes of its fields'
    names: for a response that is a pydantic dataclass over the domain's own (the fields
    declared once, in the domain), ``source`` being that domain object."""
    read = {field.name: getattr(source, field.name) for field in dataclasses.fields(response)}
    return response(**read)


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
        413: "The request body is over its cap (VETCHART_MAX_BODY_BYTES, or "
        "VETCHART_MAX_AUTH_BODY_BYTES under /auth), or the upload over its limit.",
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
