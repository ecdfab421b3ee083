"""Object storage in a local folder (development, single-node installs).

Layout: the object ``{root}/{key}`` and its metadata ``{root}/{key}.meta.json`` (size,
SHA-256, content type). A write goes to a temporary file in the object's own folder, is
fsynced, and is moved into place with ``os.replace`` (atomic), metadata first; readers see
the old object or the new one, never a part. The file's mtime is the clock's time of the
write (so the orphan sweep follows the injected clock).

Blocking file I/O runs in worker threads (``asyncio.to_thread``), except the cleanup of a
failed write (close and unlink a temporary file), which is done synchronously on purpose:
it must happen even while the task is being cancelled.

Signed URLs are API paths, ``{url_prefix}/{key}?expires=..&method=..&sig=..``, with an
HMAC-SHA256 over (method, key, expires, content type); the file route checks them with
``verify_signature``. The ``method`` query parameter is informative only: the route passes
its request's own method, so a URL signed for GET cannot be used to PUT.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode

from vetchart.adapters.storage.base import Digest, SignedRequest, StorageAdapter, Uploaded
from vetchart.domain.uploads import InvalidObjectKey, ObjectKey, is_object_key
from vetchart.services.ports.storage import (
    HEAD_BYTES,
    READ_CHUNK_BYTES,
    SIGNED_METHODS,
    MeteredUpload,
    ObjectMissing,
    SignatureExpired,
    SignatureInvalid,
    SignedUrlTerms,
    StoredObject,
)
from vetchart.services.ports.system import Clock

MIN_SIGNING_KEY_BYTES = 32
DEFAULT_URL_PREFIX = "/api/v1/files"
_META_SUFFIX = ".meta.json"
_TEMP_PREFIX = ".upload-"
_TEMP_SUFFIX = ".part"
_SIGNATURE_VERSION = "v1"
# A listing prefix: path segments of key characters, no dots (so no ".."), not absolute.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_PREFIX_RE = re.compile(r"(?:[a-z0-9_-]+/)*[a-z0-9_-]*", re.ASCII)


def sign(signing_key: bytes, terms: SignedUrlTerms) -> str:
    """Hex HMAC-SHA256 of a signed URL's terms (the download name only when there is one,
    so URLs without it keep their signatures)."""
    parts = [
        _SIGNATURE_VERSION,
        terms.method.upper(),
        terms.key,
        str(terms.expires),
        terms.content_type or "",
    ]
    if terms.filename:
        parts.append(terms.filename)
    message = "\n".join(parts)
    return hmac.new(signing_key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_signature(
    signing_key: bytes, terms: SignedUrlTerms, signature: str, now: datetime
) -> None:
    """Pass, or raise ``SignatureInvalid`` (not ours, or altered: key, method, expiry,
    content type or signature) or ``SignatureExpired`` (genuine but past ``expires``)."""
    if terms.method.upper() not in SIGNED_METHODS or not is_object_key(terms.key):
        raise SignatureInvalid()
    expected = sign(signing_key, terms)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise SignatureInvalid()
    if now.timestamp() > terms.expires:
        raise SignatureExpired()


class LocalObjectStorage(StorageAdapter):
    def __init__(
        self,
        root: Path,
        signing_key: bytes,
        clock: Clock,
        *,
        url_prefix: str = DEFAULT_URL_PREFIX,
    ) -> None:
        if len(signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(f"the signing key must have at least {MIN_SIGNING_KEY_BYTES} bytes")
        self._root = root.absolute()
        self._signing_key = signing_key
        self._clock = clock
        self._url_prefix = url_prefix.rstrip("/")

    # ----------------------------------------------------------------------- paths

    def _path(self, key: str) -> Path:
        """The file of a key; ``InvalidObjectKey`` for anything the server did not make."""
        ObjectKey.parse(key)  # the strict shape: no "..", "\\", absolute path or oddity
        path = self._root.joinpath(*key.split("/"))
        # Defence in depth: the joined path must still be inside the root.
        if os.path.commonpath([self._root, path]) != str(self._root):
            raise InvalidObjectKey()
        return path

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(path.name + _META_SUFFIX)

    def _check_key(self, key: str) -> None:
        self._path(key)

    # ----------------------------------------------------------------------- writing

    async def _write(self, key: str, upload: MeteredUpload, content_type: str) -> StoredObject:
        path = self._path(key)
        temp: _TempFile | None = None
        try:
            temp = await asyncio.to_thread(_TempFile.create, path.parent)
            async for block in upload.blocks():
                await asyncio.to_thread(temp.file.write, block)
            modified_at = self._clock.now()
            meta = {"size": upload.size, "sha256": upload.sha256, "content_type": content_type}
            await asyncio.to_thread(_install, temp, path, meta, modified_at)
        except BaseException:
            if temp is not None:
                temp.discard()
            raise
        return StoredObject(
            key=key,
            size=upload.size,
            sha256=upload.sha256,
            content_type=content_type,
            modified_at=modified_at,
        )

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(_remove, path, self._meta_path(path))

    # The "complete" step of a signed PUT (StorageAdapter.verify_upload).

    async def _uploaded(self, key: str) -> Uploaded | None:
        found = await self.stat(key)
        return None if found is None else Uploaded(found.size, found.modified_at)

    async def _first_bytes(self, key: str, found: Uploaded) -> bytes:
        return await asyncio.to_thread(_read_head, self._path(key))

    async def _digest(self, key: str, found: Uploaded, max_bytes: int) -> Digest:
        return Digest(*await asyncio.to_thread(_digest_file, self._path(key)))

    async def _record(
        self, key: str, found: Uploaded, digest: Digest, content_type: str
    ) -> StoredObject:
        meta = {"size": digest.size, "sha256": digest.sha256, "content_type": content_type}
        await asyncio.to_thread(_write_meta, self._meta_path(self._path(key)), meta)
        return StoredObject(
            key=key,
            size=digest.size,
            sha256=digest.sha256,
            content_type=content_type,
            modified_at=found.modified_at,
        )

    # ----------------------------------------------------------------------- reading

    async def open(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as error:
            raise ObjectMissing() from error
        try:
            while chunk := await asyncio.to_thread(file.read, READ_CHUNK_BYTES):
                yield chunk
        finally:
            file.close()

    async def stat(self, key: str) -> StoredObject | None:
        path = self._path(key)
        return await asyncio.to_thread(self._stat, key, path)

    def _stat(self, key: str, path: Path) -> StoredObject | None:
        try:
            info = path.stat()
        except FileNotFoundError:
            return None
        meta = _read_meta(self._meta_path(path))
        # Metadata of another version (a crash between the two renames) is not trusted.
        if meta.get("size") != info.st_size:
            meta = {}
        return StoredObject(
            key=key,
            size=info.st_size,
            sha256=_str_or_none(meta.get("sha256")),
            content_type=_str_or_none(meta.get("content_type")),
            modified_at=_from_ns(info.st_mtime_ns),
        )

    async def list_older_than(self, prefix: str, before: datetime) -> AsyncIterator[str]:
        """Keys under ``prefix`` last written before ``before``. On the way, the debris of
        writes that crashed (the process killed mid-upload) and is older than ``before``
        is removed: temporary files, and metadata files whose object never arrived."""
        if _PREFIX_RE.fullmatch(prefix) is None:
            raise ValueError(f"not a key prefix: {prefix!r}")
        if before.tzinfo is None:
            raise ValueError("before must be timezone-aware")
        keys = await asyncio.to_thread(self._scan, prefix, _to_ns(before))
        for key in keys:
            yield key

    def _scan(self, prefix: str, cutoff_ns: int) -> list[str]:
        folder = self._root.joinpath(*prefix.split("/")[:-1])
        found: list[str] = []
        for dirpath, _dirnames, filenames in os.walk(folder):
            for name in filenames:
                file = Path(dirpath, name)
                key = file.relative_to(self._root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    mtime_ns = file.stat().st_mtime_ns
                except FileNotFoundError:
                    continue
                if mtime_ns >= cutoff_ns:
                    continue
                if is_object_key(key):
                    found.append(key)
                elif _is_debris(file):
                    with contextlib.suppress(FileNotFoundError):
                        file.unlink()
        return sorted(found)

    # ----------------------------------------------------------------------- signed URLs

    async def _presign(self, request: SignedRequest) -> str:
        expires = int(self._clock.now().timestamp()) + request.expires_in
        terms = SignedUrlTerms(
            request.key,
            request.method,
            expires,
            content_type=request.content_type,
            filename=request.filename,
        )
        query = {
            "expires": str(expires),
            "method": request.method,
            "sig": sign(self._signing_key, terms),
        }
        if request.content_type:
            query["content_type"] = request.content_type
        if request.filename:
            query["filename"] = request.filename
        return f"{self._url_prefix}/{quote(request.key, safe='/')}?{urlencode(query)}"

    def verify_signature(self, terms: SignedUrlTerms, signature: str) -> None:
        verify_signature(self._signing_key, terms, signature, self._clock.now())


# --------------------------------------------------------------------------- blocking helpers


class _TempFile:
    """A temporary file beside the object it will become."""

    def __init__(self, file: IO[bytes], path: Path) -> None:
        self.file = file
        self.path = path

    @classmethod
    def create(cls, folder: Path) -> _TempFile:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX)
        return cls(os.fdopen(fd, "wb"), Path(name))

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _install(temp: _TempFile, path: Path, meta: dict[str, Any], modified_at: datetime) -> None:
    temp.file.flush()
    os.fsync(temp.file.fileno())
    temp.file.close()
    stamp = _to_ns(modified_at)
    os.utime(temp.path, ns=(stamp, stamp))
    _write_meta(LocalObjectStorage._meta_path(path), meta, sync_folder=False)
    os.replace(temp.path, path)
    _fsync_folder(path.parent)


def _write_meta(meta_path: Path, meta: dict[str, Any], *, sync_folder: bool = True) -> None:
    fd, name = tempfile.mkstemp(dir=meta_path.parent, prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(meta, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(name, meta_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    if sync_folder:
        _fsync_folder(meta_path.parent)


def _to_ns(moment: datetime) -> int:
    """Exact (no float rounding) nanoseconds since the epoch, for file times."""
    return (moment - _EPOCH) // _MICROSECOND * 1000


def _from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_meta(meta_path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(meta_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _is_debris(file: Path) -> bool:
    """A file a crashed write left behind: a temporary file, or metadata without its
    object (written just before the object was to be moved into place)."""
    name = file.name
    if name.startswith(_TEMP_PREFIX) and name.endswith(_TEMP_SUFFIX):
        return True
    if name.endswith(_META_SUFFIX):
        return not file.with_name(name.removesuffix(_META_SUFFIX)).exists()
    return False


def _remove(path: Path, meta_path: Path) -> None:
    path.unlink(missing_ok=True)
    meta_path.unlink(missing_ok=True)


def _read_head(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(HEAD_BYTES)


def _digest_file(path: Path) -> tuple[int, str]:
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256")
        return file.tell(), digest.hexdigest()
