"""The local-folder adapter: atomic writes, limits, key confinement and signed URLs."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.storage.conftest import (
    ELF,
    PDF,
    PNG,
    T0,
    FakeClock,
    Source,
    new_key,
    wav_bytes,
)
from vetchart.adapters.storage.local import LocalObjectStorage, verify_signature
from vetchart.adapters.storage.sniff import checker_for
from vetchart.domain.uploads import (
    EmptyFile,
    FileTooLarge,
    InvalidObjectKey,
    UnsupportedMediaType,
    UploadKind,
)
from vetchart.services.storage import (
    HEAD_BYTES,
    ObjectMissing,
    SignatureExpired,
    SignatureInvalid,
)

KIB = 1024
SIGNING_KEY = b"k" * 32
ATTACHMENT = checker_for(UploadKind.RECORD_ATTACHMENT)
AUDIO = checker_for(UploadKind.VISIT_AUDIO)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "objects"


@pytest.fixture
def storage(root: Path, clock: FakeClock) -> LocalObjectStorage:
    return LocalObjectStorage(root, SIGNING_KEY, clock)


def files_under(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def exists(path: Path) -> bool:
    return path.exists()


async def read_all(storage: LocalObjectStorage, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.open(key)])


async def test_round_trip_is_one_file_and_its_metadata(
    storage: LocalObjectStorage, root: Path
) -> None:
    key = new_key()
    source = Source(PDF, b"stream data " * 50, count=20)

    stored = await storage.put_stream(
        key, source.chunks(), max_bytes=KIB * KIB, content_type="image/png", inspect_head=ATTACHMENT
    )

    body = bytes(source.sent)
    assert stored.size == len(body)
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert stored.content_type == "application/pdf"
    assert stored.modified_at == T0
    assert await storage.stat(key) == stored
    assert await read_all(storage, key) == body
    assert (root / key).read_bytes() == body
    assert files_under(root) == sorted([key, f"{key}.meta.json"])  # no temporary file left


async def test_rewriting_a_key_replaces_the_object(storage: LocalObjectStorage) -> None:
    key = new_key()
    await storage.put_stream(key, Source(PDF).chunks(), max_bytes=KIB)
    second = await storage.put_stream(key, Source(PNG).chunks(), max_bytes=KIB)
    assert await read_all(storage, key) == PNG
    assert await storage.stat(key) == second


async def test_oversize_stops_reading_at_the_limit_and_leaves_no_file(
    storage: LocalObjectStorage, root: Path
) -> None:
    source = Source(wav_bytes(), b"\x00" * KIB, count=500)

    with pytest.raises(FileTooLarge):
        await storage.put_stream(
            new_key(UploadKind.VISIT_AUDIO), source.chunks(), max_bytes=64 * KIB, inspect_head=AUDIO
        )

    assert source.taken < source.total
    assert len(source.sent) <= 64 * KIB + KIB  # read at most one chunk past the limit
    assert source.closed
    assert files_under(root) == []


async def test_magic_bytes_decide_and_nothing_is_created_for_a_refused_type(
    storage: LocalObjectStorage, root: Path
) -> None:
    key = new_key()
    source = Source(ELF, b"\x00" * KIB, count=100)

    with pytest.raises(UnsupportedMediaType, match="application/x-executable"):
        await storage.put_stream(
            key,
            source.chunks(),
            max_bytes=KIB * KIB,
            content_type="application/pdf",
            inspect_head=ATTACHMENT,
        )

    assert len(source.sent) < HEAD_BYTES + KIB + len(ELF)
    assert not exists(root)  # refused before even a folder was made
    assert await storage.stat(key) is None


async def test_zero_bytes(storage: LocalObjectStorage, root: Path) -> None:
    with pytest.raises(EmptyFile):
        await storage.put_stream(
            new_key(), Source(b"").chunks(), max_bytes=KIB, inspect_head=ATTACHMENT
        )
    assert files_under(root) == []

    key = new_key()
    stored = await storage.put_stream(key, Source(b"").chunks(), max_bytes=KIB)
    assert (stored.size, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert await read_all(storage, key) == b""


async def test_an_interrupted_stream_leaves_no_file(
    storage: LocalObjectStorage, root: Path
) -> None:
    key = new_key(UploadKind.VISIT_AUDIO)
    source = Source(wav_bytes(), b"\x01" * (16 * KIB), count=40, fail_after=20)

    with pytest.raises(ConnectionResetError):
        await storage.put_stream(key, source.chunks(), max_bytes=KIB * KIB, inspect_head=AUDIO)

    assert source.taken == 20  # it had been writing
    assert files_under(root) == []
    assert await storage.stat(key) is None


async def test_a_cancelled_upload_leaves_no_file(storage: LocalObjectStorage, root: Path) -> None:
    stalled = asyncio.Event()

    async def stalling_client() -> AsyncIterator[bytes]:
        yield wav_bytes() + b"\x00" * HEAD_BYTES
        yield b"\x01" * KIB
        stalled.set()
        await asyncio.Event().wait()  # never comes
        yield b"\x02"

    key = new_key(UploadKind.VISIT_AUDIO)
    task = asyncio.create_task(
        storage.put_stream(key, stalling_client(), max_bytes=KIB * KIB, inspect_head=AUDIO)
    )
    await stalled.wait()
    assert [name.endswith(".part") for name in files_under(root)] == [True]  # mid-write

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_under(root) == []


async def test_file_times_keep_the_clock_to_the_microsecond(
    storage: LocalObjectStorage, clock: FakeClock
) -> None:
    clock.advance(microseconds=123_457)
    key = new_key()
    stored = await storage.put_stream(key, Source(PDF).chunks(), max_bytes=KIB)
    assert stored.modified_at == clock.now()
    assert await storage.stat(key) == stored


async def test_delete_is_idempotent(storage: LocalObjectStorage, root: Path) -> None:
    key = new_key()
    await storage.put_stream(key, Source(PDF).chunks(), max_bytes=KIB)
    await storage.delete(key)
    await storage.delete(key)
    await storage.delete(new_key())
    assert files_under(root) == []
    with pytest.raises(ObjectMissing):
        await read_all(storage, key)


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "record_attachment/../../../etc/passwd",
        "/etc/passwd",
        "record_attachment\\2025\\03\\0b8f9a5e-4a47-4a43-9d0c-0b1f3a8f6a51",
        "record_attachment/2025/03/0b8f9a5e-4a47-4a43-9d0c-0b1f3a8f6a51/../x",
        "record_attachment/2025/03/0B8F9A5E-4A47-4A43-9D0C-0B1F3A8F6A51",
        "",
    ],
)
async def test_keys_the_server_did_not_make_are_refused(
    storage: LocalObjectStorage, tmp_path: Path, key: str
) -> None:
    with pytest.raises(InvalidObjectKey):
        await storage.put_stream(key, Source(PDF).chunks(), max_bytes=KIB)
    with pytest.raises(InvalidObjectKey):
        await storage.stat(key)
    with pytest.raises(InvalidObjectKey):
        await storage.delete(key)
    with pytest.raises(InvalidObjectKey):
        await storage.signed_url(key, method="GET", expires_in=60)
    assert files_under(tmp_path) == []


async def test_list_older_than_follows_the_clock_and_the_prefix(
    storage: LocalObjectStorage, clock: FakeClock
) -> None:
    old_audio = new_key(UploadKind.VISIT_AUDIO)
    old_attachment = new_key(UploadKind.RECORD_ATTACHMENT)
    await storage.put_stream(old_audio, Source(PDF).chunks(), max_bytes=KIB)
    await storage.put_stream(old_attachment, Source(PDF).chunks(), max_bytes=KIB)
    clock.advance(hours=2)
    new_audio = new_key(UploadKind.VISIT_AUDIO)
    await storage.put_stream(new_audio, Source(PDF).chunks(), max_bytes=KIB)
    cutoff = T0 + timedelta(hours=1)

    assert [k async for k in storage.list_older_than("visit_audio/", cutoff)] == [old_audio]
    assert [k async for k in storage.list_older_than("", cutoff)] == sorted(
        [old_audio, old_attachment]
    )
    everything = [k async for k in storage.list_older_than("", T0 + timedelta(hours=3))]
    assert sorted(everything) == sorted([old_audio, old_attachment, new_audio])
    assert [k async for k in storage.list_older_than("visit_audio/2031/", cutoff)] == []
    with pytest.raises(ValueError, match="prefix"):
        _ = [k async for k in storage.list_older_than("../", cutoff)]


async def test_verify_upload_hashes_good_files_and_deletes_bad_ones(
    storage: LocalObjectStorage, root: Path
) -> None:
    good, bad, big = new_key(), new_key(), new_key()
    for key, body in ((good, PNG), (bad, ELF), (big, PDF * 100)):
        await storage.put_stream(key, Source(body).chunks(), max_bytes=KIB * KIB)

    verified = await storage.verify_upload(good, max_bytes=KIB, inspect_head=ATTACHMENT)
    assert (verified.content_type, verified.sha256) == (
        "image/png",
        hashlib.sha256(PNG).hexdigest(),
    )
    assert await storage.stat(good) == verified

    with pytest.raises(UnsupportedMediaType):
        await storage.verify_upload(bad, max_bytes=KIB, inspect_head=ATTACHMENT)
    with pytest.raises(FileTooLarge):
        await storage.verify_upload(big, max_bytes=KIB, inspect_head=ATTACHMENT)
    with pytest.raises(ObjectMissing):
        await storage.verify_upload(new_key(), max_bytes=KIB, inspect_head=ATTACHMENT)
    assert files_under(root) == sorted([good, f"{good}.meta.json"])


# --------------------------------------------------------------------------- signed URLs


def url_terms(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return parts.path, query


async def signed(storage: LocalObjectStorage, key: str, **options: object) -> dict[str, str]:
    url = await storage.signed_url(key, **options)  # type: ignore[arg-type]
    path, query = url_terms(url)
    assert path == f"/api/v1/files/{key}"
    return query


async def test_a_signed_url_verifies(storage: LocalObjectStorage) -> None:
    key = new_key()
    query = await signed(storage, key, method="GET", expires_in=300)

    assert query["method"] == "GET"
    assert int(query["expires"]) == int(T0.timestamp()) + 300
    storage.verify_signature(
        key, method="GET", expires=int(query["expires"]), signature=query["sig"]
    )


async def test_a_signed_url_expires(storage: LocalObjectStorage, clock: FakeClock) -> None:
    key = new_key()
    query = await signed(storage, key, method="GET", expires_in=300)
    clock.advance(seconds=301)

    with pytest.raises(SignatureExpired):
        storage.verify_signature(
            key, method="GET", expires=int(query["expires"]), signature=query["sig"]
        )


async def test_a_tampered_signature_expiry_or_key_is_invalid(storage: LocalObjectStorage) -> None:
    key, other = new_key(), new_key()
    query = await signed(storage, key, method="GET", expires_in=300)
    expires, sig = int(query["expires"]), query["sig"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]

    for attempt in (
        {"key": key, "expires": expires, "signature": flipped},
        {"key": key, "expires": expires, "signature": "é" * 64},
        {"key": key, "expires": expires, "signature": ""},
        {"key": key, "expires": expires + 3600, "signature": sig},  # extended
        {"key": other, "expires": expires, "signature": sig},
        {"key": "../" + key, "expires": expires, "signature": sig},
    ):
        with pytest.raises(SignatureInvalid) as raised:
            storage.verify_signature(method="GET", **attempt)  # type: ignore[arg-type]
        assert type(raised.value) is SignatureInvalid


async def test_a_signed_url_is_for_one_method(storage: LocalObjectStorage) -> None:
    key = new_key()
    query = await signed(storage, key, method="GET", expires_in=300)
    with pytest.raises(SignatureInvalid):
        storage.verify_signature(
            key, method="PUT", expires=int(query["expires"]), signature=query["sig"]
        )
    with pytest.raises(SignatureInvalid):
        storage.verify_signature(
            key, method="DELETE", expires=int(query["expires"]), signature=query["sig"]
        )


async def test_a_signed_put_binds_the_content_type(storage: LocalObjectStorage) -> None:
    key = new_key()
    query = await signed(storage, key, method="PUT", expires_in=60, content_type="image/png")
    assert query["content_type"] == "image/png"
    expires, sig = int(query["expires"]), query["sig"]

    storage.verify_signature(
        key, method="PUT", expires=expires, signature=sig, content_type="image/png"
    )
    for other in ("text/html", None):
        with pytest.raises(SignatureInvalid):
            storage.verify_signature(
                key, method="PUT", expires=expires, signature=sig, content_type=other
            )


async def test_signatures_depend_on_the_key(storage: LocalObjectStorage, clock: FakeClock) -> None:
    key = new_key()
    query = await signed(storage, key, method="GET", expires_in=60)
    with pytest.raises(SignatureInvalid):
        verify_signature(
            b"another key that is long enough!",
            key=key,
            method="GET",
            expires=int(query["expires"]),
            signature=query["sig"],
            content_type=None,
            now=clock.now(),
        )


async def test_signed_url_lifetimes_are_bounded(storage: LocalObjectStorage) -> None:
    for expires_in in (0, -5, 8 * 24 * 3600):
        with pytest.raises(ValueError, match="expires_in"):
            await storage.signed_url(new_key(), method="GET", expires_in=expires_in)


def test_a_short_signing_key_is_refused(root: Path, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="signing key"):
        LocalObjectStorage(root, b"short", clock)
