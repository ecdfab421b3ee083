"""ETag / If-Match for versioned resources: the ETag is the version number, quoted."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from vetchart.domain.errors import PreconditionFailed, PreconditionRequired

IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='The ETag of the version the change is based on, e.g. "3". '
        "Missing: 428; stale: 412.",
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    """The version named by If-Match; None when absent. ``*`` is refused: a change must
    name the exact version it was based on, or updates could be lost."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text == "*":
        raise PreconditionRequired('If-Match must name a version (e.g. "3"), not *.')
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise PreconditionFailed("If-Match does not name a version of this resource.")
    return int(text)
