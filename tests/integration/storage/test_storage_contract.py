"""The contract of the object-storage port, run against every adapter: the local folder
(the default) and S3 (moto in server mode: real HTTP, real multipart semantics).

What any adapter must do: the bytes decide the content type, limits stop reading at the
limit, nothing is left behind by a refused, interrupted or cancelled upload, deletes are
idempotent, keys the server did not make are refused, listing follows prefix and time,
and verifying a direct upload keeps what passes and deletes what does not. What only one
adapter does (file times, multipart parts, the signature formats) stays in
test_local_storage.py and test_s3_storage.py.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.storage.conftest import (
    ELF,
    PDF,
    PNG,
    FakeClock,
    Source,
    new_key,
    s3_storage_for,
    wav_bytes,
)
from vetchart.adapters.storage.local import LocalObjectStorage
from vetchart.adapters.storage.sniff import checker_for
from vetchart.domain.uploads import (
    EmptyFile,
    FileTooLarge,
    InvalidObjectKey,
    UnsupportedMediaType,
    UploadKind,
)
from vetchart.services.ports.storage import HEAD_BYTES, ObjectMissing, ObjectStorage

MIB = 1024 * 1024
SIGNING_KEY = b"k" * 32
ATTACHMENT = checker_for(UploadKind.RECORD_ATTACHMENT)
AUDIO = checker_for(UploadKind.VISIT_AUDIO)


@dataclass
class Backend:
    """An adapter and a look behind its back."""

    storage: ObjectStorage
    # The keys of the complete objects it holds.
    objects: Callable[[], list[str]]
    # Writes under way: temporary files, open multipart uploads.
    in_progress: Callable[[], int]
    # The time it stamps objects with.
    now: Callable[[], datetime]

    def holds_nothing(self) -> bool:
        return self.objects() == [] and self.in_progress() == 0


def _local(root: Path, clock: FakeClock) -> Backend:
    def files() -> list[str]:
        if not root.exists():
            return []
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    def objects() -> list[str]:
        # Everything but the metadata beside an object and a write's temporary file: a
        # stray file of any other name counts as an object left behind.
        return [name for name in files() if not name.endswith((".meta.json", ".part"))]

    def in_progress() -> int:
        return sum(name.endswith(".part") for name in files())

    return Backend(LocalObjectStorage(root, SIGNING_KEY, clock), objects, in_progress, clock.now)


def _s3(storage: ObjectStorage, raw_s3: Any, bucket: str) -> Backend:
    def objects() -> list[str]:
        listed = raw_s3.list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def in_progress() -> int:
        return len(raw_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))

    return Backend(storage, objects, in_progress, lambda: datetime.now(UTC))


@pytest.fixture(params=["local", "s3"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Backend]:
    if request.param == "local":
        yield _local(tmp_path / "objects", clock)
        return
    endpoint = request.getfixturevalue("moto_endpoint")
    raw_s3 = request.getfixturevalue("raw_s3")
    bucket = request.getfixturevalue("bucket")
    async with s3_storage_for(endpoint, bucket) as storage:
        yield _s3(storage, raw_s3, bucket)


async def read_all(storage: ObjectStorage, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.open(key)])


async def test_a_round_trip_stores_the_detected_type_and_the_hash(backend: Backend) -> None:
    key = new_key()
    source = Source(PNG, b"pixels" * 100, count=20)

    stored = await backend.storage.put_stream(
        key, source.chunks(), max_bytes=MIB, content_type="text/plain", inspect_head=ATTACHMENT
    )

    body = bytes(source.sent)
    assert stored.size == len(body)
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert stored.content_type == "image/png"  # the bytes decide, not the client
    assert await backend.storage.stat(key) == stored
    assert await read_all(backend.storage, key) == body
    assert backend.objects() == [key]
    assert backend.in_progress() == 0


async def test_rewriting_a_key_replaces_the_object(backend: Backend) -> None:
    key = new_key()
    await backend.storage.put_stream(key, Source(PDF).chunks(), max_bytes=MIB)
    second = await backend.storage.put_stream(key, Source(PNG).chunks(), max_bytes=MIB)
    assert await read_all(backend.storage, key) == PNG
    assert await backend.storage.stat(key) == second
    assert backend.objects() == [key]


async def test_a_body_of_exactly_the_limit_is_accepted(backend: Backend) -> None:
    stored = await backend.storage.put_stream(
        new_key(), Source(PDF).chunks(), max_bytes=len(PDF), inspect_head=ATTACHMENT
    )
    assert stored.size == len(PDF)


async def test_oversize_stops_reading_at_the_limit_and_leaves_nothing(backend: Backend) -> None:
    key = new_key(UploadKind.VISIT_AUDIO)
    chunk = MIB // 16
    source = Source(wav_bytes(), b"\x00" * chunk, count=200)

    with pytest.raises(FileTooLarge) as raised:
        await backend.storage.put_stream(key, source.chunks(), max_bytes=MIB, inspect_head=AUDIO)

    assert raised.value.max_bytes == MIB
    assert source.taken <= MIB // chunk + 2  # stopped at the limit, not at the end
    assert len(source.sent) <= MIB + chunk + len(source.head)
    assert source.closed
    assert await backend.storage.stat(key) is None
    assert backend.holds_nothing()


async def test_the_magic_bytes_refuse_a_lying_content_type_before_anything_is_stored(
    backend: Backend,
) -> None:
    key = new_key()
    source = Source(ELF, b"\x00" * 8192, count=50)

    with pytest.raises(UnsupportedMediaType) as raised:
        await backend.storage.put_stream(
            key,
            source.chunks(),
            max_bytes=MIB,
            content_type="application/pdf",
            inspect_head=ATTACHMENT,
        )

    assert raised.value.detected == "application/x-executable"
    # Refused on the head: only the chunks needed to fill HEAD_BYTES were read.
    assert len(source.sent) - len(source.filler) < HEAD_BYTES <= len(source.sent)
    assert await backend.storage.stat(key) is None
    assert backend.holds_nothing()


async def test_zero_bytes_are_refused_by_a_checker_and_stored_without_one(
    backend: Backend,
) -> None:
    with pytest.raises(EmptyFile):
        await backend.storage.put_stream(
            new_key(), Source(b"").chunks(), max_bytes=MIB, inspect_head=ATTACHMENT
        )
    assert backend.holds_nothing()

    key = new_key()
    stored = await backend.storage.put_stream(key, Source(b"").chunks(), max_bytes=MIB)
    assert (stored.size, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert await read_all(backend.storage, key) == b""


@pytest.mark.parametrize("fail_after", [2, 30])  # early / well into the body (S3: multipart)
async def test_an_interrupted_stream_leaves_nothing(backend: Backend, fail_after: int) -> None:
    key = new_key(UploadKind.VISIT_AUDIO)
    source = Source(wav_bytes(), b"\x01" * (MIB // 4), count=60, fail_after=fail_after)

    with pytest.raises(ConnectionResetError):
        await backend.storage.put_stream(
            key, source.chunks(), max_bytes=100 * MIB, inspect_head=AUDIO
        )

    assert source.taken == fail_after  # it had been writing
    assert await backend.storage.stat(key) is None
    assert backend.holds_nothing()


async def test_a_cancelled_upload_leaves_nothing(backend: Backend) -> None:
    stalled = asyncio.Event()

    async def stalling_client() -> AsyncIterator[bytes]:
        yield wav_bytes()
        for _ in range(6):  # past one S3 part, so a multipart upload is open
            yield b"\x01" * MIB
        stalled.set()
        await asyncio.Event().wait()  # never comes
        yield b"\x02"

    key = new_key(UploadKind.VISIT_AUDIO)
    task = asyncio.create_task(
        backend.storage.put_stream(key, stalling_client(), max_bytes=100 * MIB, inspect_head=AUDIO)
    )
    await stalled.wait()
    assert backend.in_progress() == 1  # mid-write

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.holds_nothing()


async def test_delete_is_idempotent_and_a_deleted_object_is_missing(backend: Backend) -> None:
    key = new_key()
    await backend.storage.put_stream(key, Source(PDF).chunks(), max_bytes=MIB)
    await backend.storage.delete(key)
    await backend.storage.delete(key)
    await backend.storage.delete(new_key())
    assert await backend.storage.stat(key) is None
    with pytest.raises(ObjectMissing):
        await read_all(backend.storage, key)
    assert backend.holds_nothing()


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "record_attachment/../../../etc/passwd",
        "/etc/passwd",
        "record_attachment\\2025\\03\\0b8f9a5e-4a47-4a43-9d0c-0b1f3a8f6a51",
        "record_attachment/2025/03/0b8f9a5e-4a47-4a43-9d0c-0b1f3a8f6a51/../x",
        "record_attachment/2025/03/0B8F9A5E-4A47-4A43-9D0C-0B1F3A8F6A51",
        "record_attachment/2025/03/not-a-uuid",
        "",
    ],
)
async def test_keys_the_server_did_not_make_are_refused(backend: Backend, key: str) -> None:
    with pytest.raises(InvalidObjectKey):
        await backend.storage.put_stream(key, Source(PDF).chunks(), max_bytes=MIB)
    with pytest.raises(InvalidObjectKey):
        await backend.storage.stat(key)
    with pytest.raises(InvalidObjectKey):
        await backend.storage.delete(key)
    with pytest.raises(InvalidObjectKey):
        await backend.storage.signed_url(key, method="GET", expires_in=60)
    with pytest.raises(InvalidObjectKey):
        await backend.storage.verify_upload(key, max_bytes=MIB, inspect_head=ATTACHMENT)
    assert backend.holds_nothing()


async def test_list_older_than_filters_by_prefix_and_time(backend: Backend) -> None:
    audio = new_key(UploadKind.VISIT_AUDIO)
    attachment = new_key(UploadKind.RECORD_ATTACHMENT)
    for key in (audio, attachment):
        await backend.storage.put_stream(key, Source(PDF).chunks(), max_bytes=MIB)
    later = backend.now() + timedelta(minutes=5)
    earlier = backend.now() - timedelta(hours=1)

    listed = backend.storage.list_older_than
    assert [k async for k in listed("visit_audio/", later)] == [audio]
    assert sorted([k async for k in listed("", later)]) == sorted([audio, attachment])
    assert [k async for k in listed("visit_audio/", earlier)] == []
    assert [k async for k in listed("visit_audio/2031/", later)] == []


async def test_verify_upload_keeps_what_passes_and_deletes_what_does_not(
    backend: Backend,
) -> None:
    # Direct uploads (a signed PUT) are stored unchecked, then verified.
    good, executable, big, empty = new_key(), new_key(), new_key(), new_key()
    bodies = {good: PNG, executable: ELF + b"\x00" * 100, big: PNG + b"\x00" * 5000, empty: b""}
    for key, body in bodies.items():
        await backend.storage.put_stream(key, Source(body).chunks(), max_bytes=MIB)

    verified = await backend.storage.verify_upload(good, max_bytes=1000, inspect_head=ATTACHMENT)
    assert (verified.size, verified.content_type, verified.sha256) == (
        len(PNG),
        "image/png",
        hashlib.sha256(PNG).hexdigest(),
    )
    assert await backend.storage.stat(good) == verified

    with pytest.raises(UnsupportedMediaType):
        await backend.storage.verify_upload(executable, max_bytes=MIB, inspect_head=ATTACHMENT)
    with pytest.raises(FileTooLarge):
        await backend.storage.verify_upload(big, max_bytes=1000, inspect_head=ATTACHMENT)
    with pytest.raises(EmptyFile):
        await backend.storage.verify_upload(empty, max_bytes=MIB, inspect_head=ATTACHMENT)
    with pytest.raises(ObjectMissing):
        await backend.storage.verify_upload(new_key(), max_bytes=MIB, inspect_head=ATTACHMENT)
    assert backend.objects() == [good]
