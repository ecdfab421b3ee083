"""Files of the local object store, reached through URLs the API signed (no bearer token:
the signature is the permission, short-lived and bound to the key, method and type).

With S3 storage these URLs point at S3 itself (no verifier here): every such request is
404.

Reads are verified: the SHA-256 recorded when the object was written is handed to the
caller (sent as ``Repr-Digest``), and the bytes are hashed while they stream. The last
chunk is held back until the whole object has been hashed; on a mismatch (the file was
changed on disk) the error is logged and the stream is aborted before that chunk, so the
client sees a broken transfer (short of ``Content-Length``), never a complete response
with other bytes. An object without a trusted checksum is not served at all (500).

Writes go once to a signed upload URL: an object that exists already is 409, so it cannot
replace a recording behind the record's back while the URL is still valid.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog

from vetchart.domain.errors import Conflict, NotFound
from vetchart.domain.uploads import ObjectKey, UploadKind
from vetchart.services.ports.storage import (
    HeadInspectorFactory,
    ObjectMissing,
    ObjectStorage,
    SignedUrlTerms,
    SignedUrlVerifier,
    StoredObject,
)

log = structlog.get_logger(__name__)


class StoredFileCorrupt(RuntimeError):
    """The bytes of a stored object do not match its recorded SHA-256 (or it has none)."""


@dataclass(frozen=True)
class UploadSizeLimits:
    """The largest upload of each kind (VETCHART_MAX_*_BYTES)."""

    audio_bytes: int
    attachment_bytes: int
    kb_document_bytes: int

    def for_kind(self, kind: UploadKind) -> int:
        return {
            UploadKind.VISIT_AUDIO: self.audio_bytes,
            UploadKind.RECORD_ATTACHMENT: self.attachment_bytes,
        }.get(kind, self.kb_document_bytes)


@dataclass(frozen=True)
class FileDownload:
    """A verified object: its metadata (with its trusted SHA-256) and its checked bytes."""

    stored: StoredObject
    sha256: str
    chunks: AsyncIterator[bytes]


class FileService:
    def __init__(
        self,
        *,
        storage: ObjectStorage,
        verifier: SignedUrlVerifier | None,
        inspectors: HeadInspectorFactory,
        limits: UploadSizeLimits,
    ) -> None:
        self._storage = storage
        self._verifier = verifier
        self._inspectors = inspectors
        self._limits = limits

    def _verify(self, terms: SignedUrlTerms, signature: str) -> None:
        if self._verifier is None:
            raise NotFound("No such file.")
        self._verifier.verify_signature(terms, signature)

    async def download(
        self, key: str, *, method: str, expires: int, signature: str, filename: str | None
    ) -> FileDownload:
        """The object behind a signed GET URL (403 bad signature, 404 none, 500 no checksum)."""
        self._verify(SignedUrlTerms(key, method, expires, filename=filename), signature)
        stored = await self._storage.stat(key)
        if stored is None:
            raise ObjectMissing()
        if stored.sha256 is None:
            # Metadata missing, or of another version of the file: nothing to verify against.
            log.error("files.checksum_unknown", key=key, size=stored.size)
            raise StoredFileCorrupt("the stored file has no trusted checksum")
        return FileDownload(stored, stored.sha256, _verified(self._storage.open(key), stored))

    async def upload(
        self,
        key: str,
        body: AsyncIterator[bytes],
        *,
        method: str,
        expires: int,
        signature: str,
        content_type: str | None,
    ) -> StoredObject:
        """Store the body of a signed PUT URL, once (409 when something is there already),
        under the size limit and content check of the key's kind of upload."""
        self._verify(SignedUrlTerms(key, method, expires, content_type=content_type), signature)
        kind = ObjectKey.parse(key).kind
        if await self._storage.stat(key) is not None:
            raise Conflict(
                "Something was uploaded to this URL already; ask for a new upload URL.",
                code="upload-exists",
            )
        return await self._storage.put_stream(
            key,
            body,
            max_bytes=self._limits.for_kind(kind),
            content_type=content_type,
            inspect_head=self._inspectors(kind),
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
