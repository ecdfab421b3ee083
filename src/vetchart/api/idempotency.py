"""``Idempotency-Key`` on POSTs that create: a retry with the same key and the same request
gets the first response again (same status and body); the same key with a different request
is 422; while the first is still running (within its lease), 409. Keys are per user and live
24 hours.

Only the creating POSTs in ``IDEMPOTENT_ROUTES`` take part; on every other request the header
is ignored (never ``/auth/*`` nor invitations: their answers carry secrets - TOTP seeds,
recovery codes, tokens - that must not be stored in clear and replayed). Only authenticated
requests take part (the key is scoped to the user); 5xx answers are not kept, so a failed
first attempt can be retried with the same key. A claim left by a request that died (its
lease, ``VETCHART_IDEMPOTENCY_LEASE_SECONDS``, ran out) is taken over by the next retry.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vetchart.api.problems import domain_error_response
from vetchart.domain.errors import (
    DomainError,
    IdempotencyKeyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
)
from vetchart.services.ports.system import Claim, StoredResponse

HEADER = "idempotency-key"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Request bodies that are streamed to storage, never buffered (no replay for them).
STREAMED_BODIES = ("multipart/", "application/octet-stream", "audio/", "image/", "video/")
# Response headers worth replaying with the body.
KEPT_HEADERS = ("content-type", "location", "etag")

# The creating POSTs that honour Idempotency-Key (full paths, ``{...}`` one path segment).
# Everything else ignores the header: /auth/* (TOTP secrets, recovery codes, tokens),
# invitations (their answer carries the invitation token) and invitation acceptance, and
# uploads (attachments, KB documents, visit audio: streamed, never buffered).
IDEMPOTENT_ROUTES: tuple[str, ...] = (
    "/api/v1/practices",
    "/api/v1/practices/{practice_id}/appointments",
    "/api/v1/pet-owners",
    "/api/v1/associations",
    "/api/v1/pets",
    "/api/v1/pets/{pet_id}/medical-records",
    "/api/v1/pets/{pet_id}/visits",
    "/api/v1/visits/{visit_id}/summary/accept",
)
_IDEMPOTENT_PATH = re.compile(
    "|".join(
        "/".join("[^/]+" if part.startswith("{") else re.escape(part) for part in route.split("/"))
        for route in IDEMPOTENT_ROUTES
    )
)


def honours_key(scope: Scope) -> bool:
    """Whether this request takes part in Idempotency-Key handling (allow-list only)."""
    return scope["method"] == "POST" and bool(_IDEMPOTENT_PATH.fullmatch(scope.get("path", "")))


def fingerprint(scope: Scope, body: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in (
        scope["method"],
        scope.get("path", ""),
        scope.get("query_string", b"").decode("latin-1"),
        Headers(scope=scope).get("content-type", ""),
    ):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(body)
    return digest.digest()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, container: Callable[[], Any]) -> None:
        self.app = app
        self._container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = Headers(scope=scope).get(HEADER) if scope["type"] == "http" else None
        container = self._container()
        if key is None or container is None or not honours_key(scope):
            await self.app(scope, receive, send)
            return
        content_type = Headers(scope=scope).get("content-type", "").lower()
        if content_type.startswith(STREAMED_BODIES):
            # Uploads are streamed to storage with a size limit as they arrive; holding
            # one in memory to fingerprint and replay it would defeat that. They are not
            # replayed (a repeated upload is a second file).
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if not _VALID_KEY.fullmatch(key):
            await domain_error_response(IdempotencyKeyInvalid(), path)(scope, receive, send)
            return
        user_id = await self._user_id(container, scope)
        if user_id is None:  # not signed in: the route answers (401 where it needs a user)
            await self.app(scope, receive, send)
            return

        body = await _read_body(receive)
        lease = timedelta(seconds=container.settings.api.idempotency_lease_seconds)
        claim = await container.idempotency.claim(
            user_id, key, fingerprint(scope, body), container.clock.now(), lease=lease
        )
        if claim.claim is Claim.REPLAY:
            assert claim.stored is not None
            await _send_stored(claim.stored, send)
            return
        if claim.claim is not Claim.NEW:
            refusal = (
                IdempotencyKeyReused()
                if claim.claim is Claim.MISMATCH
                else IdempotencyKeyInProgress()
            )
            await domain_error_response(refusal, path)(scope, receive, send)
            return
        assert claim.claimed_at is not None
        await self._first_run(container, scope, body, send, user_id, key, claim.claimed_at)

    async def _first_run(
        self,
        container: Any,
        scope: Scope,
        body: bytes,
        send: Send,
        user_id: Any,
        key: str,
        claimed_at: datetime,
    ) -> None:
        captured: dict[str, Any] = {"status": None, "headers": {}, "body": bytearray()}
        sent_body = False

        async def replay_receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def capturing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                headers = Headers(raw=message.get("headers", []))
                captured["headers"] = {h: headers[h] for h in KEPT_HEADERS if h in headers}
            elif message["type"] == "http.response.body":
                captured["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capturing_send)
        except BaseException:
            await container.idempotency.abandon(user_id, key, claimed_at)
            raise
        status = captured["status"]
        if status is None or status >= 500:
            await container.idempotency.abandon(user_id, key, claimed_at)
            return
        await container.idempotency.complete(
            user_id,
            key,
            claimed_at,
            StoredResponse(status, bytes(captured["body"]), captured["headers"]),
        )

    @staticmethod
    async def _user_id(container: Any, scope: Scope) -> Any:
        authorization = Headers(scope=scope).get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            principal = await container.auth.authenticate(token.strip())
        except DomainError:
            return None
        return principal.user_id


async def _read_body(receive: Receive) -> bytes:
    chunks = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.extend(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return bytes(chunks)


async def _send_stored(stored: StoredResponse, send: Send) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored.headers.items()]
    headers.append((b"idempotent-replayed", b"true"))
    headers.append((b"content-length", str(len(stored.body)).encode()))
    await send({"type": "http.response.start", "status": stored.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})
