"""Files of the local object store, reached through URLs the API signed (no bearer token:
the signature is the permission, short-lived and bound to the key, method and type).

With S3 storage these URLs point at S3 itself and this route answers 404.

Reads are verified: the SHA-256 recorded when the object was written is sent as
``Repr-Digest`` (RFC 9530), and the bytes are hashed while they stream. The last chunk is
held back until the whole object has been hashed; on a mismatch (the file was changed on
disk) the error is logged and the stream is aborted before that chunk, so the client sees
a broken transfer (short of ``Content-Length``), never a complete response with other
bytes. An object without a trusted checksum is not served at all (500).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import StreamingResponse

from vetchart.api.dependencies import ContainerDep
from vetchart.api.route_audit import audited
from vetchart.api.schemas.common import problem_responses
from vetchart.api.uploads import raw_body
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import Conflict, NotFound
from vetchart.domain.uploads import ObjectKey, content_disposition
from vetchart.services.ports.storage import ObjectMissing, StoredObject

log = structlog.get_logger(__name__)

router = APIRouter(tags=["files"])


class StoredFileCorrupt(RuntimeError):
    """The bytes of a stored object do not match its recorded SHA-256 (or it has none)."""


_Signature = Annotated[str, Query(min_length=1, max_length=128)]
_Key = Annotated[str, Path(min_length=1, max_length=300)]


def _verify(
    container: ContainerDep,
    key: str,
    method: str,
    expires: int,
    sig: str,
    content_type: str | None,
    filename: str | None = None,
) -> None:
    verifier = container.signed_files
    if verifier is None:
        raise NotFound("No such file.")
    verifier.verify_signature(
        key,
        method=method,
        expires=expires,
        signature=sig,
        content_type=content_type,
        filename=filename,
    )


@audited(AuditAction.FILE_READ)
@router.get(
    "/files/{key:path}",
    summary="A stored file, through a signed URL (local storage)",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/octet-stream": {}},
            "description": "The bytes, verified against the SHA-256 recorded at upload "
            "(sent as `Repr-Digest: sha-256=:<base64>:`); a mismatch aborts the transfer. "
            "`Content-Disposition: attachment` names the file (RFC 6266: an ASCII "
            "`filename` and the exact UTF-8 `filename*`, both sanitised) when the URL "
            "carries a signed `filename`.",
        },
        **problem_responses(403, 404, 422, 500),
    },
)
async def get_file(
    key: _Key,
    container: ContainerDep,
    expires: int,
    sig: _Signature,
    method: Annotated[str, Query(pattern="^GET$")] = "GET",
    filename: Annotated[str | None, Query(max_length=1000)] = None,
) -> StreamingResponse:
    _verify(container, key, method, expires, sig, None, filename)
    stored = await container.storage.stat(key)
    if stored is None:
        raise ObjectMissing()
    if stored.sha256 is None:
        # Metadata missing, or of another version of the file: nothing to verify against.
        log.error("files.checksum_unknown", key=key, size=stored.size)
        raise StoredFileCorrupt("the stored file has no trusted checksum")
    digest = base64.b64encode(bytes.fromhex(stored.sha256)).decode("ascii")
    return StreamingResponse(
        _verified(container.storage.open(key), stored),
        media_type=stored.content_type or "application/octet-stream",
        headers={
            "Content-Length": str(stored.size),
            "Content-Disposition": content_disposition(filename),
            "Cache-Control": "private, no-store",
            "Repr-Digest": f"sha-256=:{digest}:",
        },
    )


async def _verified(chunks: AsyncIterator[bytes], stored: StoredObject) -> AsyncIterator[bytes]:
    """The object's bytes, hashed on the way; the last chunk is sent only once the whole
    object matched its recorded size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    held: bytes | None = None
    try:
        async for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            if held is not None:
                yield held
            held = chunk
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
    if size != stored.size or digest.hexdigest() != stored.sha256:
        log.error(
            "files.checksum_mismatch",
            key=stored.key,
            expected_size=stored.size,
            size=size,
            expected_sha256=stored.sha256,
            sha256=digest.hexdigest(),
        )
        raise StoredFileCorrupt(f"stored file {stored.key} does not match its checksum")
    if held is not None:
        yield held


@audited(AuditAction.FILE_WRITE)
@router.put(
    "/files/{key:path}",
    status_code=status.HTTP_201_CREATED,
    summary="Upload to a signed URL (local storage's pre-signed upload)",
    description="Once: a URL whose object exists already (uploaded, perhaps completed and "
    "recorded with its SHA-256) answers 409, so it cannot replace a recording behind the "
    "record's back while it is still valid.",
    responses=problem_responses(403, 404, 409, 413, 415, 422),
)
async def put_file(
    key: _Key,
    request: Request,
    container: ContainerDep,
    expires: int,
    sig: _Signature,
    method: Annotated[str, Query(pattern="^PUT$")] = "PUT",
    content_type: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, object]:
    _verify(container, key, method, expires, sig, content_type)
    kind = ObjectKey.parse(key).kind
    if await container.storage.stat(key) is not None:
        raise Conflict(
            "Something was uploaded to this URL already; ask for a new upload URL.",
            code="upload-exists",
        )
    stored = await container.storage.put_stream(
        key,
        raw_body(request),
        max_bytes=container.upload_limit(kind),
        content_type=content_type,
        inspect_head=container.content_checks(kind),
    )
    return {"key": stored.key, "size_bytes": stored.size, "sha256": stored.sha256}
