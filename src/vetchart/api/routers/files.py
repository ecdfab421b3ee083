"""Files of the local object store, reached through URLs the API signed (no bearer token:
the signature is the permission). The rules (signatures, the once-only upload, the
checksum-verified stream) are the service's (services/files.py); this router only
translates HTTP. With S3 storage these URLs point at S3 itself and this route answers 404.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import StreamingResponse

from vetchart.api.dependencies import FilesDep
from vetchart.api.route_audit import audited
from vetchart.api.schemas.common import problem_responses
from vetchart.api.uploads import raw_body
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.uploads import content_disposition

router = APIRouter(tags=["files"])


_Signature = Annotated[str, Query(min_length=1, max_length=128)]
_Key = Annotated[str, Path(min_length=1, max_length=300)]


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
    files: FilesDep,
    expires: int,
    sig: _Signature,
    method: Annotated[str, Query(pattern="^GET$")] = "GET",
    filename: Annotated[str | None, Query(max_length=1000)] = None,
) -> StreamingResponse:
    found = await files.download(
        key, method=method, expires=expires, signature=sig, filename=filename
    )
    digest = base64.b64encode(bytes.fromhex(found.sha256)).decode("ascii")
    return StreamingResponse(
        found.chunks,
        media_type=found.stored.content_type or "application/octet-stream",
        headers={
            "Content-Length": str(found.stored.size),
            "Content-Disposition": content_disposition(filename),
            "Cache-Control": "private, no-store",
            "Repr-Digest": f"sha-256=:{digest}:",
        },
    )


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
    files: FilesDep,
    expires: int,
    sig: _Signature,
    method: Annotated[str, Query(pattern="^PUT$")] = "PUT",
    content_type: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, object]:
    stored = await files.upload(
        key,
        raw_body(request),
        method=method,
        expires=expires,
        signature=sig,
        content_type=content_type,
    )
    return {"key": stored.key, "size_bytes": stored.size, "sha256": stored.sha256}
