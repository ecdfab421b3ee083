"""Raw request bodies streamed to storage, never held whole, so size limits stop reading
at the limit. (Multipart forms: ``api/multipart.py``, built on ``raw_body``.) A client
that disconnects mid-body gets ``UploadInterrupted`` (400; nobody is listening, but the
logs stay quiet)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from starlette.requests import ClientDisconnect

from vetchart.config import Settings
from vetchart.domain.uploads import UploadInterrupted, UploadKind

MULTIPART = "multipart/form-data"

# The uploads (method, full path template; ``{name}`` is one path segment, ``{name:path}``
# the rest of the path). Their bodies are streamed to storage under their own size limits
# (``limit_bytes``), so the general request body cap (api/bounded_input.py) leaves them
# alone. tests/api/test_bounded_input.py checks every entry is a route of the app.
UPLOAD_ROUTES: tuple[tuple[str, str], ...] = (
    ("PUT", "/api/v1/visits/{visit_id}/audio"),
    ("POST", "/api/v1/medical-records/{record_id}/attachments"),
    ("POST", "/api/v1/kb/documents"),
    ("PUT", "/api/v1/files/{key:path}"),  # local storage's signed upload URL
)


def _path_pattern(template: str) -> str:
    parts = []
    for part in template.split("/"):
        if part.endswith(":path}"):
            parts.append(".+")
        elif part.startswith("{"):
            parts.append("[^/]+")
        else:
            parts.append(re.escape(part))
    return "/".join(parts)


_UPLOAD_PATHS: dict[str, re.Pattern[str]] = {
    method: re.compile(
        "|".join(_path_pattern(path) for verb, path in UPLOAD_ROUTES if verb == method)
    )
    for method in {verb for verb, _ in UPLOAD_ROUTES}
}


def is_upload(method: str, path: str) -> bool:
    """Whether this request is one of ``UPLOAD_ROUTES``."""
    pattern = _UPLOAD_PATHS.get(method)
    return pattern is not None and pattern.fullmatch(path) is not None


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


# --------------------------------------------------------------------------- stated limits

# Routers are shared by every app built in the process, so an upload operation carries
# only this marker (in its ``openapi_extra``); ``state_upload_limits`` replaces it, in the
# schema of one app, by the sentence stating that app's limit.
_MARK = "x-vetchart-upload-kind"
_SETTING = {
    UploadKind.VISIT_AUDIO: "VETCHART_MAX_AUDIO_BYTES",
    UploadKind.RECORD_ATTACHMENT: "VETCHART_MAX_ATTACHMENT_BYTES",
    UploadKind.KB_DOCUMENT: "VETCHART_MAX_KB_DOCUMENT_BYTES",
}
_MIB = 1024 * 1024


def upload_limit(kind: UploadKind) -> dict[str, object]:
    """``openapi_extra`` of an upload operation whose description states its size limit."""
    return {_MARK: kind.value}


def limit_bytes(settings: Settings, kind: UploadKind) -> int:
    storage = settings.storage
    return {
        UploadKind.VISIT_AUDIO: storage.max_audio_bytes,
        UploadKind.RECORD_ATTACHMENT: storage.max_attachment_bytes,
        UploadKind.KB_DOCUMENT: storage.max_kb_document_bytes,
    }[kind]


def limit_text(size: int) -> str:
    """``3 MiB (3145728 bytes)``, ``1.5 MiB (1572864 bytes)``, or ``12345 bytes``."""
    if size >= _MIB:
        return f"{size / _MIB:g} MiB ({size} bytes)"
    return f"{size} bytes"


def state_upload_limits(app: FastAPI, settings: Settings) -> None:
    """The OpenAPI description of each marked upload operation of ``app`` ends with the
    size limit of ``settings`` (the running ones, not the defaults)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    if isinstance(operation, dict) and _MARK in operation:
                        kind = UploadKind(operation.pop(_MARK))
                        sentence = (
                            f"Size limit: {limit_text(limit_bytes(settings, kind))} "
                            f"(`{_SETTING[kind]}`); a larger body is refused with 413."
                        )
                        text = str(operation.get("description", "")).rstrip()
                        operation["description"] = f"{text}\n\n{sentence}".lstrip()
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
