"""What every object-storage adapter does the same way, written once: the key and
signed-URL checks, the life of a metered upload (``put_stream``), and the "complete" step
of a signed PUT (``verify_upload``). An adapter implements the backend steps, the
abstract methods below; the contracts are those of ``services.ports.storage``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from vetchart.domain.uploads import FileTooLarge, UploadRejected
from vetchart.services.ports.storage import (
    SIGNED_METHODS,
    HeadInspector,
    MeteredUpload,
    ObjectMissing,
    SignedMethod,
    StoredObject,
    check_expires_in,
)


@dataclass(frozen=True)
class SignedRequest:
    """The terms of a signed URL, checked (key, method, 1 .. max seconds)."""

    key: str
    method: SignedMethod
    expires_in: int
    content_type: str | None
    filename: str | None


@dataclass(frozen=True)
class Uploaded:
    """An object found by ``verify_upload``: its size and, where the backend has one, the
    version tag that later reads must match (S3's ETag)."""

    size: int
    modified_at: datetime
    version: str | None = None


class Digest(NamedTuple):
    """What streaming an object found: its size and hex SHA-256."""

    size: int
    sha256: str


class StorageAdapter(ABC):
    @abstractmethod
    def _check_key(self, key: str) -> None:
        """Raise ``InvalidObjectKey`` for a key the server did not make."""

    @abstractmethod
    async def _write(self, key: str, upload: MeteredUpload, content_type: str) -> StoredObject:
        """Store what ``upload.blocks()`` yields under ``key``, leaving nothing behind on
        failure (see the port's write contract)."""

    @abstractmethod
    async def _presign(self, request: SignedRequest) -> str:
        """The URL of a checked signed request."""

    @abstractmethod
    async def _uploaded(self, key: str) -> Uploaded | None:
        """The object to verify, or None when there is none."""

    @abstractmethod
    async def _first_bytes(self, key: str, found: Uploaded) -> bytes:
        """The object's first ``HEAD_BYTES`` bytes (fewer for a shorter object)."""

    @abstractmethod
    async def _digest(self, key: str, found: Uploaded, max_bytes: int) -> Digest:
        """Stream the object's bytes: their size and hash (``FileTooLarge`` past
        ``max_bytes`` where the backend can grow the object meanwhile)."""

    @abstractmethod
    async def _record(
        self, key: str, found: Uploaded, digest: Digest, content_type: str
    ) -> StoredObject:
        """Keep the verified hash and detected type with the object."""

    @abstractmethod
    async def delete(self, key: str) -> None: ...

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int,
        content_type: str | None = None,
        inspect_head: HeadInspector | None = None,
    ) -> StoredObject:
        self._check_key(key)
        upload = MeteredUpload(
            chunks, max_bytes=max_bytes, content_type=content_type, inspect_head=inspect_head
        )
        try:
            stored_type = await upload.inspect()  # refused here: nothing was written
            return await self._write(key, upload, stored_type)
        finally:
            await upload.aclose()

    async def verify_upload(
        self, key: str, *, max_bytes: int, inspect_head: HeadInspector
    ) -> StoredObject:
        self._check_key(key)
        found = await self._uploaded(key)
        if found is None:
            raise ObjectMissing()
        try:
            if found.size > max_bytes:
                raise FileTooLarge(max_bytes=max_bytes)
            detected = inspect_head(await self._first_bytes(key, found))
            digest = await self._digest(key, found, max_bytes)
        except UploadRejected:
            await self.delete(key)
            raise
        return await self._record(key, found, digest, detected)

    async def signed_url(
        self,
        key: str,
        *,
        method: SignedMethod,
        expires_in: int,
        content_type: str | None = None,
        filename: str | None = None,
    ) -> str:
        self._check_key(key)
        check_expires_in(expires_in)
        if method not in SIGNED_METHODS:
            raise ValueError(f"unsupported method {method!r}")
        return await self._presign(SignedRequest(key, method, expires_in, content_type, filename))
