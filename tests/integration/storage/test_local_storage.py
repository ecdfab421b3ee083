"""The local-folder adapter: atomic writes, limits, key confinement and signed URLs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.storage.conftest import (
    ELF,
    PDF,
    T0,
    FakeClock,
    Source,
    new_key,
)
from vetchart.adapters.storage.local import LocalObjectStorage, verify_signature
from vetchart.adapters.storage.sniff import checker_for
from vetchart.domain.uploads import (
    UnsupportedMediaType,
    UploadKind,
)
from vetchart.services.ports.storage import (
    SignatureExpired,
    SignatureInvalid,
    SignedUrlTerms,
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


# What every adapter does is in test_storage_contract.py; here what the folder adds.


async def test_an_object_is_one_file_with_its_metadata_beside_it(
    storage: LocalObjectStorage, root: Path
) -> None:
    key = new_key()
    source = Source(PDF, b"stream data " * 50, count=20)

    stored = await storage.put_stream(
        key, source.chunks(), max_bytes=KIB * KIB, content_type="image/png", inspect_head=ATTACHMENT
    )

    assert stored.modified_at == T0
    assert (root / key).read_bytes() == bytes(source.sent)
    assert files_under(root) == sorted([key, f"{key}.meta.json"])  # no temporary file left


async def test_a_refused_type_creates_not_even_a_folder(
    storage: LocalObjectStorage, root: Path
) -> None:
    with pytest.raises(UnsupportedMediaType):
        await storage.put_stream(
            new_key(),
            Source(ELF, b"\x00" * KIB, count=100).chunks(),
            max_bytes=KIB * KIB,
            inspect_head=ATTACHMENT,
        )
    assert not exists(root)  # refused before even a folder was made


async def test_file_times_keep_the_clock_to_the_microsecond(
    storage: LocalObjectStorage, clock: FakeClock
) -> None:
    clock.advance(microseconds=123_457)
    key = new_key()
    stored = await storage.put_stream(key, Source(PDF).chunks(), max_bytes=KIB)
    assert stored.modified_at == clock.now()
    assert await storage.stat(key) == stored


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
    storage.verify_signature(SignedUrlTerms(key, "GET", int(query["expires"])), query["sig"])


async def test_a_signed_url_expires(storage: LocalObjectStorage, clock: FakeClock) -> None:
    key = new_key()
    query = await signed(storage, key, method="GET", expires_in=300)
    clock.advance(seconds=301)

    with pytest.raises(SignatureExpired):
        storage.verify_signature(SignedUrlTerms(key, "GET", int(query["expires"])), query["sig"])


async def test_a_tampered_signature_expiry_or_key_is_invalid(storage: LocalObjectStorage) -> None:
    key, other = new_key(), new_key()
    query = await signed(storage, key, method="GET", expires_in=300)
    expires, sig = int(query["expires"]), query["sig"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]

    for attempt_key, attempt_expires, signature in (
        (key, expires, flipped),
        (key, expires, "é" * 64),
        (key, expires, ""),
        (key, expires + 3600, sig),  # extended
        (other, expires, sig),
        ("../" + key, expires, sig),
    ):
        with pytest.raises(SignatureInvalid) as raised:
            storage.verify_signature(SignedUrlTerms(attempt_key, "GET", attempt_expires), signature)
        assert type(raised.value) is SignatureInvalid


async def test_a_signed_url_is_for_one_method(storage: LocalObjectStorage) -> None:
    key = new_key()
    query = await signed(storage, key, method="GET", expires_in=300)
    with pytest.raises(SignatureInvalid):
        storage.verify_signature(SignedUrlTerms(key, "PUT", int(query["expires"])), query["sig"])
    with pytest.raises(SignatureInvalid):
        storage.verify_signature(SignedUrlTerms(key, "DELETE", int(query["expires"])), query["sig"])


async def test_a_signed_put_binds_the_content_type(storage: LocalObjectStorage) -> None:
    key = new_key()
    query = await signed(storage, key, method="PUT", expires_in=60, content_type="image/png")
    assert query["content_type"] == "image/png"
    expires, sig = int(query["expires"]), query["sig"]

    storage.verify_signature(SignedUrlTerms(key, "PUT", expires, content_type="image/png"), sig)
    for other in ("text/html", None):
        with pytest.raises(SignatureInvalid):
            storage.verify_signature(SignedUrlTerms(key, "PUT", expires, content_type=other), sig)


async def test_signatures_depend_on_the_key(storage: LocalObjectStorage, clock: FakeClock) -> None:
    key = new_key()
    query = await signed(storage, key, method="GET", expires_in=60)
    with pytest.raises(SignatureInvalid):
        verify_signature(
            b"another key that is long enough!",
            SignedUrlTerms(key, "GET", int(query["expires"])),
            query["sig"],
            clock.now(),
        )


async def test_signed_url_lifetimes_are_bounded(storage: LocalObjectStorage) -> None:
    for expires_in in (0, -5, 8 * 24 * 3600):
        with pytest.raises(ValueError, match="expires_in"):
            await storage.signed_url(new_key(), method="GET", expires_in=expires_in)


def test_a_short_signing_key_is_refused(root: Path, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="signing key"):
        LocalObjectStorage(root, b"short", clock)
