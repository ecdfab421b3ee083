"""Presenting the read side's fast-path rows as JSON, without a pydantic model per row.

The hot lists and reads answer straight from their rows with orjson: the rows already
hold exactly the response's fields (services/ports/paging.py ``Row``), in the order of the
response schema, which stays the documented contract (``response_model`` in the route).
The row mappers are with their area (``clients``, ``records``, ``schedule``);
``tests/api/test_fast_reads.py`` checks that these answers validate against the schema
and equal what the schema itself would render for the same record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

import orjson
from fastapi import Response

from vetchart.api.responses import JSON_MEDIA_TYPE

# RFC 3339 with "Z" for UTC, as pydantic writes it.
_OPTIONS = orjson.OPT_UTC_Z


def _default(value: object) -> object:
    # asyncpg's own UUID type (a uuid.UUID subclass orjson does not take as one).
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(
    content: Mapping[str, Any] | list[Any],
    base: Response,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The answer, with the headers the route's dependencies set on ``base`` (the
    ``Response`` FastAPI injects: ``RateLimit-*``), which FastAPI itself only copies onto
    answers it renders."""
    answer = Response(
        orjson.dumps(content, default=_default, option=_OPTIONS),
        status_code=status_code,
        headers=dict(headers) if headers else None,
        media_type=JSON_MEDIA_TYPE,
    )
    answer.headers.update(base.headers)
    return answer


def list_response(
    items: Iterable[dict[str, Any]], next_cursor: str | None, base: Response
) -> Response:
    """The list envelope of every list (docs/pagination.md)."""
    return json_response({"items": list(items), "next_cursor": next_cursor}, base)
