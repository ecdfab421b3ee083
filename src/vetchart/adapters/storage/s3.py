"""Object storage in S3 (or any S3-compatible service: MinIO, Ceph, R2...), via aioboto3.

Writes stream: a body that fits in one part is sent with one ``PutObject``; a larger one
becomes a multipart upload of ``part_size`` parts, aborted on any failure (the limit, a
refusal, the source raising, cancellation). The SHA-256, known only at the end, is stored
as the object's user metadata (``x-amz-meta-sha256``): with ``PutObject`` directly, after a
multipart upload by copying the object onto itself with the new metadata. Keep a bucket
lifecycle rule that aborts incomplete multipart uploads after a day, for crashed processes.

Every call has connect and read timeouts and bounded retries (botocore's "standard" mode:
exponential backoff with jitter). Connection failures, timeouts and 5xx/throttling answers
become ``StorageUnavailable``.

One client is opened on first use and kept; close it with ``aclose()`` (or use the storage
as an async context manager).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import aioboto3  # type: ignore[import-untyped]
import aiohttp
import structlog
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    HTTPClientError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from vetchart.adapters.storage.base import Digest, SignedRequest, StorageAdapter, Uploaded
from vetchart.domain.errors import Conflict
from vetchart.domain.uploads import FileTooLarge, ObjectKey, content_disposition
from vetchart.services.ports.storage import (
    HEAD_BYTES,
    READ_CHUNK_BYTES,
    MeteredUpload,
    ObjectMissing,
    StorageUnavailable,
    StoredObject,
)

log = structlog.get_logger(__name__)

MIB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MIB
MIN_PART_SIZE = 5 * MIB  # S3's minimum for every part but the last
SHA256_METADATA = "sha256"
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_UNAVAILABLE_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling"}
)
_CHANGED_CODES = frozenset({"412", "PreconditionFailed"})
_UNAVAILABLE_DETAIL = "File storage cannot be reached right now; try again shortly."
_HTTP_NOT_FOUND = 404
_HTTP_SERVER_ERROR = 500


def _error_code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _http_status(error: Any) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _is_missing(error: Any) -> bool:
    return isinstance(error, ClientError) and (
        _error_code(error) in _MISSING_CODES or _http_status(error) == _HTTP_NOT_FOUND
    )


@asynccontextmanager
async def _translated(operation: str) -> AsyncIterator[None]:
    """Backend trouble becomes ``StorageUnavailable``; client errors (4xx) pass through."""
    try:
        yield
    except ClientError as error:
        if _http_status(error) >= _HTTP_SERVER_ERROR or _error_code(error) in _UNAVAILABLE_CODES:
            log.warning("storage.s3.failed", operation=operation, code=_error_code(error))
            raise StorageUnavailable(_UNAVAILABLE_DETAIL) from error
        raise
    except (BotoConnectionError, HTTPClientError, aiohttp.ClientError, TimeoutError) as error:
        log.warning("storage.s3.unreachable", operation=operation, error=type(error).__name__)
        raise StorageUnavailable(_UNAVAILABLE_DETAIL) from error


class S3ObjectStorage(StorageAdapter):
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None,
        region: str | None,
        access_key: str | None,
        secret_key: str | None,
        connect_timeout: float,
        read_timeout: float,
        max_attempts: int,
        part_size: int = DEFAULT_PART_SIZE,
        force_path_style: bool = False,
    ) -> None:
        """``max_attempts`` counts the first try; ``force_path_style`` for servers without
        virtual-host buckets (MinIO, moto, an IP endpoint)."""
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._bucket = bucket
        self._part_size = part_size
        self._session = aioboto3.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
        )
        self._endpoint_url = endpoint_url
        self._config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            signature_version="s3v4",
            s3={"addressing_style": "path" if force_path_style else "auto"},
            # Checksums only where S3 requires them: presigned PUT URLs then carry no
            # checksum a browser would have to send. Integrity is our own SHA-256.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._client_lock = asyncio.Lock()
        self._cleanups: set[asyncio.Task[None]] = set()

    # ----------------------------------------------------------------------- lifecycle

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._client_lock:
                if self._client is None:
                    self._client = await self._stack.enter_async_context(
                        self._session.client(
                            "s3", endpoint_url=self._endpoint_url, config=self._config
                        )
                    )
        return self._client

    async def aclose(self) -> None:
        self._client = None
        await self._stack.aclose()
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ----------------------------------------------------------------------- writing

    def _check_key(self, key: str) -> None:
        ObjectKey.parse(key)

    async def _write(self, key: str, upload: MeteredUpload, content_type: str) -> StoredObject:
        client = await self._s3()
        multipart: _Multipart | None = None
        completed = False
        try:
            buffer = bytearray()
            async for block in upload.blocks():
                buffer += block
                while len(buffer) >= self._part_size:
                    if multipart is None:
                        multipart = await _Multipart.start(client, self._bucket, key, content_type)
                    await multipart.upload_part(bytes(buffer[: self._part_size]))
                    del buffer[: self._part_size]
            if multipart is None:
                async with _translated("put_object"):
                    await client.put_object(
                        Bucket=self._bucket,
                        Key=key,
                        Body=bytes(buffer),
                        ContentType=content_type,
                        Metadata={SHA256_METADATA: upload.sha256},
                    )
            else:
                if buffer:
                    await multipart.upload_part(bytes(buffer))
                await multipart.complete()
                completed = True
                await self._set_metadata(key, upload.sha256, content_type, if_match=None)
        except BaseException:
            if completed:
                await self._cleanup(self._delete_quietly(key), "delete")
            elif multipart is not None:
                await self._cleanup(multipart.abort(), "abort_multipart_upload")
            raise
        return await self._stored(key)

    async def _stored(self, key: str) -> StoredObject:
        stored = await self.stat(key)
        if stored is None:  # deleted by someone else in between
            raise ObjectMissing()
        return stored

    async def _set_metadata(
        self, key: str, sha256: str, content_type: str, *, if_match: str | None
    ) -> None:
        """Record the hash and type: S3 metadata is changed by copying the object onto
        itself (server-side; up to 5 GiB)."""
        client = await self._s3()
        extra = {"CopySourceIfMatch": if_match} if if_match else {}
        try:
            async with _translated("copy_object"):
                await client.copy_object(
                    Bucket=self._bucket,
                    Key=key,
                    CopySource={"Bucket": self._bucket, "Key": key},
                    MetadataDirective="REPLACE",
                    Metadata={SHA256_METADATA: sha256},
                    ContentType=content_type,
                    **extra,
                )
        except ClientError as error:
            if _error_code(error) in _CHANGED_CODES:
                raise _changed() from error
            raise

    async def _cleanup(self, operation: Coroutine[Any, Any, None], what: str) -> None:
        """Run a cleanup to its end even if this task is being cancelled (it goes on in
        the background); its own failure is logged, never raised over the first error."""
        task = asyncio.ensure_future(operation)
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        try:
            await asyncio.shield(task)
        except Exception as error:
            log.warning("storage.s3.cleanup_failed", operation=what, error=type(error).__name__)

    async def _delete_quietly(self, key: str) -> None:
        await self.delete(key)

    async def delete(self, key: str) -> None:
        ObjectKey.parse(key)
        client = await self._s3()
        async with _translated("delete_object"):
            try:
                await client.delete_object(Bucket=self._bucket, Key=key)
            except ClientError as error:
                if not _is_missing(error):
                    raise

    # The "complete" step of a signed PUT (StorageAdapter.verify_upload): every read is
    # of the version first found (its ETag), so a replaced object is a conflict.

    async def _uploaded(self, key: str) -> Uploaded | None:
        found = await self._head(key)
        if found is None:
            return None
        return Uploaded(
            int(found["ContentLength"]), found["LastModified"], version=str(found["ETag"])
        )

    async def _first_bytes(self, key: str, found: Uploaded) -> bytes:
        if not found.size:
            return b""
        return await self._read(key, etag=found.version, limit=HEAD_BYTES)

    async def _digest(self, key: str, found: Uploaded, max_bytes: int) -> Digest:
        digest = hashlib.sha256()
        streamed = 0
        async with aclosing(self._iter_body(key, etag=found.version)) as body:
            async for chunk in body:
                streamed += len(chunk)
                if streamed > max_bytes:
                    raise FileTooLarge(max_bytes=max_bytes)
                digest.update(chunk)
        return Digest(streamed, digest.hexdigest())

    async def _record(
        self, key: str, found: Uploaded, digest: Digest, content_type: str
    ) -> StoredObject:
        await self._set_metadata(key, digest.sha256, content_type, if_match=found.version)
        return await self._stored(key)

    # ----------------------------------------------------------------------- reading

    async def _head(self, key: str) -> dict[str, Any] | None:
        client = await self._s3()
        async with _translated("head_object"):
            try:
                response: dict[str, Any] = await client.head_object(Bucket=self._bucket, Key=key)
            except ClientError as error:
                if _is_missing(error):
                    return None
                raise
        return response

    async def stat(self, key: str) -> StoredObject | None:
        ObjectKey.parse(key)
        found = await self._head(key)
        if found is None:
            return None
        metadata = found.get("Metadata") or {}
        sha256 = metadata.get(SHA256_METADATA)
        content_type = found.get("ContentType")
        return StoredObject(
            key=key,
            size=int(found["ContentLength"]),
            sha256=str(sha256) if sha256 else None,
            content_type=str(content_type) if content_type else None,
            modified_at=found["LastModified"],
        )

    async def _iter_body(
        self, key: str, *, etag: str | None = None, byte_range: str | None = None
    ) -> AsyncGenerator[bytes, None]:
        client = await self._s3()
        extra: dict[str, str] = {}
        if etag:
            extra["IfMatch"] = etag
        if byte_range:
            extra["Range"] = byte_range
        async with _translated("get_object"):
            try:
                response = await client.get_object(Bucket=self._bucket, Key=key, **extra)
            except ClientError as error:
                if _is_missing(error):
                    raise ObjectMissing() from error
                if _error_code(error) in _CHANGED_CODES:
                    raise _changed() from error
                raise
            body = response["Body"]
            # Closing releases the connection (the body's own context manager returns
            # the raw response, without the chunk iterator).
            try:
                async for chunk in body.iter_chunks(READ_CHUNK_BYTES):
                    yield bytes(chunk)
            finally:
                body.close()

    async def _read(self, key: str, *, etag: str | None, limit: int) -> bytes:
        byte_range = f"bytes=0-{limit - 1}"
        async with aclosing(self._iter_body(key, etag=etag, byte_range=byte_range)) as body:
            parts = [chunk async for chunk in body]
        return b"".join(parts)[:limit]

    async def open(self, key: str) -> AsyncIterator[bytes]:
        ObjectKey.parse(key)
        async with aclosing(self._iter_body(key)) as body:
            async for chunk in body:
                yield chunk

    async def list_older_than(self, prefix: str, before: datetime) -> AsyncIterator[str]:
        if before.tzinfo is None:
            raise ValueError("before must be timezone-aware")
        client = await self._s3()
        paginator = client.get_paginator("list_objects_v2")
        async with _translated("list_objects_v2"):
            async for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if item["LastModified"] < before:
                        yield str(item["Key"])

    # ----------------------------------------------------------------------- signed URLs

    async def _presign(self, request: SignedRequest) -> str:
        method = request.method
        params: dict[str, str] = {"Bucket": self._bucket, "Key": request.key}
        if request.content_type:
            params["ContentType" if method == "PUT" else "ResponseContentType"] = (
                request.content_type
            )
        if request.filename and method == "GET":
            params["ResponseContentDisposition"] = content_disposition(request.filename)
        client = await self._s3()
        url = await client.generate_presigned_url(
            "put_object" if method == "PUT" else "get_object",
            Params=params,
            ExpiresIn=request.expires_in,
            HttpMethod=method,
        )
        return str(url)


def _changed() -> Conflict:
    return Conflict("The file changed while it was being checked; complete the upload again.")


class _Multipart:
    """One multipart upload in progress."""

    def __init__(self, client: Any, bucket: str, key: str, upload_id: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._upload_id = upload_id
        self._parts: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, client: Any, bucket: str, key: str, content_type: str) -> _Multipart:
        async with _translated("create_multipart_upload"):
            response = await client.create_multipart_upload(
                Bucket=bucket, Key=key, ContentType=content_type
            )
        return cls(client, bucket, key, str(response["UploadId"]))

    async def upload_part(self, body: bytes) -> None:
        number = len(self._parts) + 1
        async with _translated("upload_part"):
            response = await self._client.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=body,
            )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})

    async def complete(self) -> None:
        async with _translated("complete_multipart_upload"):
            await self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )

    async def abort(self) -> None:
        async with _translated("abort_multipart_upload"):
            await self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
            )
