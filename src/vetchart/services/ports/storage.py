"""The object-storage port: where uploaded bytes live (a local folder, or S3), and the file
part of an upload as it arrives (``IncomingFile``).

Keys are ``ObjectKey`` strings made by the server; adapters refuse any other shape with
``InvalidObjectKey`` (a 404). Bytes are streamed, never held whole in memory.

Writing (``put_stream``) has one contract for every adapter, implemented once by
``MeteredUpload``:

1. The first ``HEAD_BYTES`` bytes (or the whole body, if shorter) are buffered and given to
   ``inspect_head``, *before anything is written*. It returns the content type to store
   (the one detected from the bytes; the client's declared ``content_type`` is then
   ignored) or raises, typically ``UnsupportedMediaType`` or ``EmptyFile``. The adapters'
   ``checker_for(kind)`` makes such an inspector from the upload rules. Without an
   inspector the declared type is stored as given.
2. The rest is streamed to the backend while it is counted and hashed (SHA-256). The
   moment more than ``max_bytes`` have been read, reading stops and ``FileTooLarge`` is
   raised.
3. On any failure (a limit, a refusal, the source raising, cancellation, the backend
   failing) nothing is left behind: no partial object, no temporary file, no open
   multipart upload. The source iterator is closed (``aclose``) when it has one.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from typing import Literal, Protocol

from vetchart.domain.errors import Forbidden, NotFound, Unavailable
from vetchart.domain.uploads import FileTooLarge, UploadKind

# Enough for every signature the sniffer knows (filetype needs 262; DICOM 132) and a fair
# sample for the plain-text check.
HEAD_BYTES = 4096
# Chunk size when reading objects back.
READ_CHUNK_BYTES = 64 * 1024
# Signed URLs live at most as long as S3 allows (SigV4: 7 days).
MAX_SIGNED_URL_SECONDS = 7 * 24 * 3600
# Stored when nobody said anything better.
DEFAULT_CONTENT_TYPE = "application/octet-stream"

SignedMethod = Literal["GET", "PUT"]
SIGNED_METHODS: tuple[SignedMethod, ...] = ("GET", "PUT")

HeadInspector = Callable[[bytes], str]
"""Judges the first bytes of an upload: returns the content type to store, or raises."""


class HeadInspectorFactory(Protocol):
    """Makes the inspector of a kind of upload (bootstrap wires ``sniff.checker_for``)."""

    def __call__(self, kind: UploadKind) -> HeadInspector: ...


# --------------------------------------------------------------------------- errors


class StorageUnavailable(Unavailable):
    """The storage backend cannot be reached or failed on its side (503)."""

    code = "storage-unavailable"
    title = "File storage unavailable"


class ObjectMissing(NotFound):
    """No object under the key (404)."""

    def __init__(self, detail: str = "No such file.") -> None:
        super().__init__(detail)


class SignatureInvalid(Forbidden):
    """A signed URL that was not made by us, or was altered (403)."""

    code = "signature-invalid"
    title = "Invalid link"

    def __init__(self, detail: str = "This link is not valid.") -> None:
        super().__init__(detail)


class SignatureExpired(SignatureInvalid):
    """A genuine signed URL past its expiry (403)."""

    code = "signature-expired"
    title = "Expired link"

    def __init__(self, detail: str = "This link has expired; ask for a new one.") -> None:
        super().__init__(detail)


# --------------------------------------------------------------------------- the port


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    # Hex SHA-256 of the bytes. None only for an object written around ``put_stream`` (a
    # signed PUT) and not yet checked by ``verify_upload``.
    sha256: str | None
    content_type: str | None
    # When the object was last written (timezone-aware).
    modified_at: datetime


@dataclass(frozen=True)
class IncomingFile:
    """The file part of an upload, as it arrives: its bytes are read once."""

    filename: str | None
    content_type: str | None
    chunks: AsyncIterator[bytes]


class ObjectStorage(Protocol):
    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int,
        content_type: str | None = None,
        inspect_head: HeadInspector | None = None,
    ) -> StoredObject:
        """Store the stream under ``key`` (replacing any object there) — see the module's
        contract. Raises ``FileTooLarge``, what ``inspect_head`` raises, or
        ``StorageUnavailable``; the source's own errors propagate unchanged."""
        ...

    def open(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes, in chunks. Nothing is opened before the first iteration,
        which raises ``ObjectMissing``; to answer 404 before a response starts, pull the
        first chunk before sending headers (or ``stat`` first)."""
        ...

    async def stat(self, key: str) -> StoredObject | None: ...

    async def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""
        ...

    async def signed_url(
        self,
        key: str,
        *,
        method: SignedMethod,
        expires_in: int,
        content_type: str | None = None,
        filename: str | None = None,
    ) -> str:
        """A URL that allows one method on one key until ``expires_in`` seconds from now
        (1 .. ``MAX_SIGNED_URL_SECONDS``). For PUT, ``content_type`` is bound: the upload
        must send exactly that ``Content-Type``. For GET, it is the type to serve, and
        ``filename`` (bound too) the name the download's ``Content-Disposition`` sends
        (``vetchart.domain.uploads.content_disposition``)."""
        ...

    def list_older_than(self, prefix: str, before: datetime) -> AsyncIterator[str]:
        """Keys under ``prefix`` last written before ``before`` (for the orphan sweep)."""
        ...

    async def verify_upload(
        self, key: str, *, max_bytes: int, inspect_head: HeadInspector
    ) -> StoredObject:
        """The "complete" step of an upload made with a signed PUT: the object must exist
        (``ObjectMissing``), be at most ``max_bytes`` and pass ``inspect_head`` on its first
        bytes; its SHA-256 is computed by streaming it and recorded with the detected type.
        A rejected object (``UploadRejected``) is deleted before the error is raised."""
        ...


@dataclass(frozen=True)
class SignedUrlTerms:
    """What a signed URL of the local storage grants, and what its signature covers: one
    ``method`` on one ``key`` until ``expires`` (Unix seconds); a PUT must send exactly
    ``content_type``; a GET downloads as ``filename`` when there is one."""

    key: str
    method: str
    expires: int
    _: KW_ONLY
    content_type: str | None = None
    filename: str | None = None


class SignedUrlVerifier(Protocol):
    """Checks the signed URLs the local storage makes (served by the API's file route)."""

    def verify_signature(self, terms: SignedUrlTerms, signature: str) -> None:
        """Pass, or raise ``SignatureInvalid`` / ``SignatureExpired``. ``terms.method`` is
        the request's own method; for a PUT, ``terms.content_type`` is the request's
        Content-Type; ``terms.filename`` is the URL's download name."""
        ...


def check_expires_in(expires_in: int) -> None:
    if not 1 <= expires_in <= MAX_SIGNED_URL_SECONDS:
        raise ValueError(f"expires_in must be 1..{MAX_SIGNED_URL_SECONDS} seconds")


# --------------------------------------------------------------------------- the write contract


class MeteredUpload:
    """Wraps an upload's source: buffers and inspects the head, counts, hashes, and stops
    at the limit. Adapters call ``inspect()`` before they create anything, then write what
    ``blocks()`` yields, then read ``size``/``sha256``/``content_type``; and ``aclose()``
    in a ``finally``.
    """

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int,
        content_type: str | None,
        inspect_head: HeadInspector | None,
    ) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self._source = chunks
        self._max_bytes = max_bytes
        self._inspect_head = inspect_head
        self._pending: list[bytes] = []
        self._inspected = False
        self._exhausted = False
        self._read = 0
        self._digest = hashlib.sha256()
        self.size = 0
        self.content_type = content_type

    async def _next(self) -> bytes | None:
        if self._exhausted:
            return None
        try:
            chunk = await anext(self._source)
        except StopAsyncIteration:
            self._exhausted = True
            return None
        self._read += len(chunk)
        if self._read > self._max_bytes:
            raise FileTooLarge(max_bytes=self._max_bytes)
        return bytes(chunk)

    async def inspect(self) -> str:
        """Read the head and let the inspector judge it; the content type to store."""
        if not self._inspected:
            buffered = 0
            while buffered < HEAD_BYTES:
                chunk = await self._next()
                if chunk is None:
                    break
                if chunk:
                    self._pending.append(chunk)
                    buffered += len(chunk)
            if self._inspect_head is not None:
                head = b"".join(self._pending)[:HEAD_BYTES]
                self.content_type = self._inspect_head(head)
            self._inspected = True
        return self.content_type or DEFAULT_CONTENT_TYPE

    async def blocks(self) -> AsyncIterator[bytes]:
        """Every byte of the body, in the source's chunks (non-empty), counted and hashed."""
        await self.inspect()
        pending, self._pending = self._pending, []
        for buffered in pending:
            yield self._count(buffered)
        while (chunk := await self._next()) is not None:
            if chunk:
                yield self._count(chunk)

    def _count(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        self._digest.update(chunk)
        return chunk

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of what ``blocks()`` has yielded so far (all of it, once done)."""
        return self._digest.hexdigest()

    async def aclose(self) -> None:
        """Close the source if it can be closed (an async generator, a request body)."""
        close = getattr(self._source, "aclose", None)
        if close is not None:
            await close()
