"""Bounded request input, checked before any work: before routing, authentication, rate
limiting, the idempotency layer or the reading of a body (pure ASGI, just inside CORS so
its refusals stay readable cross-origin; api/app.py).

- **Body size.** At most ``max_body_bytes`` (``VETCHART_MAX_BODY_BYTES``, 1 MiB), and
  ``max_auth_body_bytes`` (``VETCHART_MAX_AUTH_BODY_BYTES``, 16 KiB) under
  ``/api/v1/auth/``. A ``Content-Length`` over the cap is answered 413 at once, the body
  unread; a body without one (chunked) is counted as the application reads it, and the
  413 goes out the moment the count passes the cap: the application never sees a
  complete body, so nothing is processed. The 413 carries ``Connection: close`` (the rest
  of the body is not read). The uploads (``UPLOAD_ROUTES`` in api/uploads.py) are left
  to their own, larger limits.
- **NUL in the URL.** A NUL character (``%00``) in the query string or the path is 422:
  PostgreSQL text cannot hold one. (In JSON bodies: ``RequestModel``.)
- **Form charsets.** A form (``multipart/form-data``, ``application/x-www-form-urlencoded``)
  declaring a charset that is not a real text encoding (``TEXT_CHARSETS`` in
  domain/input_bounds.py: not UTF-7, rot13, hex, an unknown name...) is 415.

A request without a body and without ``%00`` costs one scan of its header list.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qsl

import structlog
from python_multipart.multipart import parse_options_header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vetchart.api.problems import domain_error_response, validation_error_response
from vetchart.api.responses import ProblemResponse
from vetchart.api.uploads import is_upload
from vetchart.domain.errors import ContentTooLarge
from vetchart.domain.input_bounds import NUL_CHARACTER, text_charset
from vetchart.domain.uploads import UnsupportedCharset

log = structlog.get_logger(__name__)

AUTH_PREFIX: Final = "/api/v1/auth/"
_FORM_TYPES: Final = (b"multipart/", b"application/x-www-form-urlencoded")


class BodyTooLarge(ContentTooLarge):
    """Raised into the application by ``receive`` once the body passed its cap (the 413
    has been answered already; whatever the application answers instead is dropped)."""


def too_large(path: str, limit: int) -> ProblemResponse:
    return domain_error_response(ContentTooLarge(limit), path)


def _shown(text: str) -> str:
    return text.replace("\x00", "\\u0000")[:100]


def nul_in_url(path: str, query: bytes) -> ProblemResponse | None:
    """The 422 for a NUL in the path or a query parameter (name or value), or None."""
    errors: list[dict[str, object]] = []
    if "\x00" in path:
        errors.append({"loc": ["path"], "msg": NUL_CHARACTER, "type": "string_nul_character"})
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                errors.append(
                    {
                        "loc": ["query", _shown(name)],
                        "msg": f"{NUL_CHARACTER}.",
                        "type": "string_nul_character",
                    }
                )
    if not errors:
        return None
    return validation_error_response(
        errors,
        path.replace("\x00", "%00"),
        "The request is not valid; see errors. " + NUL_CHARACTER + " in a URL.",
    )


def unsupported_charset(path: str, content_type: bytes) -> ProblemResponse | None:
    """The 415 for a form declaring a charset that is not a real text encoding, or None."""
    lowered = content_type.lower()
    if b"charset" not in lowered or not lowered.lstrip().startswith(_FORM_TYPES):
        return None
    _, options = parse_options_header(content_type)
    declared = options.get(b"charset")
    if declared is None:
        return None
    label = declared.decode("latin-1")
    if text_charset(label) is not None:
        return None
    return charset_problem(path, label)


def charset_problem(path: str, label: str) -> ProblemResponse:
    return domain_error_response(UnsupportedCharset(label), path)


class BoundedInputMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_auth_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_auth_body_bytes = max_auth_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        query: bytes = scope.get("query_string", b"")
        if (b"%00" in query or b"\x00" in query or "\x00" in path) and (
            refusal := nul_in_url(path, query)
        ) is not None:
            await refusal(scope, receive, send)
            return
        declared_length: bytes | None = None
        chunked = False
        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared_length = value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                content_type = value
        if not chunked and (declared_length is None or declared_length == b"0"):
            await self.app(scope, receive, send)  # no body: nothing to bound
            return
        if content_type and (refusal := unsupported_charset(path, content_type)) is not None:
            await refusal(scope, receive, send)
            return
        if is_upload(scope["method"], path):
            await self.app(scope, receive, send)  # streamed under its own limit
            return
        limit = self.max_auth_body_bytes if path.startswith(AUTH_PREFIX) else self.max_body_bytes
        if declared_length is not None and not chunked:
            length = int(declared_length) if declared_length.isdigit() else None
            if length is not None and length > limit:
                log.info("http.body_too_large", declared=length, limit=limit)
                await too_large(path, limit)(scope, receive, send)
                return
        await _CountedBody(self.app, limit)(scope, receive, send)


class _CountedBody:
    """One request whose body is counted as it is read."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.received = 0
        self.refused = False
        self.answered = False  # the 413 went out
        self.response_started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted_receive() -> Message:
            if self.refused:
                raise BodyTooLarge(self.limit)
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limit:
                    self.refused = True
                    log.info("http.body_too_large", received=self.received, limit=self.limit)
                    if not self.response_started:
                        self.answered = True
                        await too_large(scope["path"], self.limit)(scope, receive, send)
                    raise BodyTooLarge(self.limit)
            return message

        async def guarded_send(message: Message) -> None:
            if self.answered:
                return  # the 413 went out already
            if message["type"] == "http.response.start":
                self.response_started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if not self.answered:
                raise
