"""Files of the local object store, reached through URLs the API signed (no bearer token:
the signature is the permission, short-lived and bound to the key, method and type).

With S3 storage these URLs point at S3 itself and this route answers 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import StreamingResponse

from vetchart.api.dependencies import ContainerDep
from vetchart.api.schemas.common import problem_responses
from vetchart.domain.errors import NotFound
from vetchart.domain.uploads import ObjectKey
from vetchart.services.storage import ObjectMissing

router = APIRouter(tags=["files"])

_Signature = Annotated[str, Query(min_length=1, max_length=128)]
_Key = Annotated[str, Path(min_length=1, max_length=300)]


def _verify(
    container: ContainerDep,
    key: str,
    method: str,
    expires: int,
    sig: str,
    content_type: str | None,
) -> None:
    verifier = container.signed_files
    if verifier is None:
        raise NotFound("No such file.")
    verifier.verify_signature(
        key, method=method, expires=expires, signature=sig, content_type=content_type
    )


@router.get(
    "/files/{key:path}",
    summary="A stored file, through a signed URL (local storage)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The bytes."},
        **problem_responses(403, 404, 422),
    },
)
async def get_file(
    key: _Key,
    container: ContainerDep,
    expires: int,
    sig: _Signature,
    method: Annotated[str, Query(pattern="^GET$")] = "GET",
) -> StreamingResponse:
    _verify(container, key, method, expires, sig, None)
    stored = await container.storage.stat(key)
    if stored is None:
        raise ObjectMissing()
    chunks = container.storage.open(key)
    return StreamingResponse(
        chunks,
        media_type=stored.content_type or "application/octet-stream",
        headers={
            "Content-Length": str(stored.size),
            "Content-Disposition": "attachment",
            "Cache-Control": "private, no-store",
        },
    )


@router.put(
    "/files/{key:path}",
    status_code=status.HTTP_201_CREATED,
    summary="Upload to a signed URL (local storage's pre-signed upload)",
    responses=problem_responses(403, 404, 413, 415, 422),
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
    stored = await container.storage.put_stream(
        key,
        _body(request),
        max_bytes=container.upload_limit(kind),
        content_type=content_type,
        inspect_head=container.content_checks(kind),
    )
    return {"key": stored.key, "size_bytes": stored.size, "sha256": stored.sha256}


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk
