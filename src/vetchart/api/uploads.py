"""Raw request bodies streamed to storage, never held whole, so size limits stop reading
at the limit. (Multipart forms: ``api/multipart.py``, built on ``raw_body``.) A client
that disconnects mid-body gets ``UploadInterrupted`` (400; nobody is listening, but the
logs stay quiet)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from starlette.requests import ClientDisconnect

from vetchart.domain.errors import DomainError

MULTIPART = "multipart/form-data"


class UploadInterrupted(DomainError):
    """The client went away before the body was complete (400; nothing is stored)."""

    code = "upload-interrupted"
    title = "Upload interrupted"

    def __init__(self, detail: str = "The upload was interrupted; send it again.") -> None:
        super().__init__(detail)


async def _stream(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise UploadInterrupted() from None


async def raw_body(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives (a client that goes away is ``UploadInterrupted``)."""
    async for chunk in _stream(request):
        yield chunk


def multipart_openapi(description_field: bool = True) -> dict[str, object]:
    """The request body as documentation (the route reads the stream itself)."""
    properties: dict[str, object] = {"file": {"type": "string", "format": "binary"}}
    if description_field:
        properties["description"] = {"type": "string", "maxLength": 1000}
    return {
        "requestBody": {
            "required": True,
            "content": {
                MULTIPART: {
                    "schema": {"type": "object", "required": ["file"], "properties": properties}
                }
            },
        }
    }
