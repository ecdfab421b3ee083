"""The S3 adapter against moto in server mode (real HTTP, real multipart semantics)."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.integration.storage.conftest import (
    ELF,
    PDF,
    PNG,
    Source,
    new_key,
    s3_storage_for,
    wav_bytes,
)
from vetchart.adapters.storage.s3 import MIN_PART_SIZE, S3ObjectStorage
from vetchart.adapters.storage.sniff import checker_for
from vetchart.domain.uploads import (
    EmptyFile,
    FileTooLarge,
    UnsupportedMediaType,
    UploadKind,
)
from vetchart.services.ports.storage import StorageUnavailable

MIB = 1024 * 1024
ATTACHMENT = checker_for(UploadKind.RECORD_ATTACHMENT)
AUDIO = checker_for(UploadKind.VISIT_AUDIO)


async def read_all(storage: S3ObjectStorage, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.open(key)])


def keys_in(raw_s3: Any, bucket: str) -> list[str]:
    listed = raw_s3.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


def open_multipart_uploads(raw_s3: Any, bucket: str) -> list[Any]:
    listed = raw_s3.list_multipart_uploads(Bucket=bucket)
    uploads: list[Any] = listed.get("Uploads", [])
    return uploads


async def test_multipart_round_trip_records_the_hash_of_the_whole_object(
    s3_storage: S3ObjectStorage, raw_s3: Any, bucket: str
) -> None:
    key = new_key(UploadKind.VISIT_AUDIO)
    source = Source(wav_bytes(), b"\x07" * MIB, count=11)  # > 2 parts of 5 MiB

    stored = await s3_storage.put_stream(
        key, source.chunks(), max_bytes=20 * MIB, inspect_head=AUDIO
    )

    body = bytes(source.sent)
    assert stored.size == len(body)
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert stored.content_type == "audio/wav"
    assert await read_all(s3_storage, key) == body
    assert open_multipart_uploads(raw_s3, bucket) == []


@pytest.mark.parametrize("limit_mib", [1, 7])  # in one PutObject / after a part was sent
async def test_oversize_stops_reading_at_the_limit_and_leaves_nothing(
    s3_storage: S3ObjectStorage, raw_s3: Any, bucket: str, limit_mib: int
) -> None:
    key = new_key(UploadKind.VISIT_AUDIO)
    source = Source(wav_bytes(), b"\x00" * (MIB // 4), count=200)

    with pytest.raises(FileTooLarge) as raised:
        await s3_storage.put_stream(
            key, source.chunks(), max_bytes=limit_mib * MIB, inspect_head=AUDIO
        )

    assert raised.value.max_bytes == limit_mib * MIB
    assert source.taken <= limit_mib * 4 + 2  # stopped at the limit, not at the end
    assert source.taken < source.total
    assert source.closed
    assert await s3_storage.stat(key) is None
    assert keys_in(raw_s3, bucket) == []
    assert open_multipart_uploads(raw_s3, bucket) == []


async def test_a_presigned_get_downloads_the_object(s3_storage: S3ObjectStorage) -> None:
    key = new_key()
    await s3_storage.put_stream(key, Source(PDF).chunks(), max_bytes=MIB, inspect_head=ATTACHMENT)

    url = await s3_storage.signed_url(key, method="GET", expires_in=60)
    async with httpx.AsyncClient() as http:
        response = await http.get(url)

    assert response.status_code == 200
    assert response.content == PDF


async def test_a_presigned_put_binds_the_content_type_and_is_then_verified(
    s3_storage: S3ObjectStorage,
) -> None:
    key = new_key()
    body = PNG + b"\x00" * 5000
    url = await s3_storage.signed_url(key, method="PUT", expires_in=300, content_type="image/png")
    signed_headers = parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0].split(";")
    assert "content-type" in signed_headers

    async with httpx.AsyncClient() as http:
        response = await http.put(url, content=body, headers={"Content-Type": "image/png"})
    assert response.status_code == 200
    unverified = await s3_storage.stat(key)
    assert unverified is not None
    assert unverified.sha256 is None

    verified = await s3_storage.verify_upload(key, max_bytes=MIB, inspect_head=ATTACHMENT)

    assert verified.size == len(body)
    assert verified.sha256 == hashlib.sha256(body).hexdigest()
    assert verified.content_type == "image/png"
    assert await s3_storage.stat(key) == verified


@pytest.mark.parametrize(
    ("body", "max_bytes", "error"),
    [
        (ELF + b"\x00" * 100, MIB, UnsupportedMediaType),
        (PNG + b"\x00" * 5000, 1000, FileTooLarge),
        (b"", MIB, EmptyFile),
    ],
)
async def test_verify_upload_deletes_what_it_rejects(
    s3_storage: S3ObjectStorage,
    raw_s3: Any,
    bucket: str,
    body: bytes,
    max_bytes: int,
    error: type[Exception],
) -> None:
    key = new_key()
    raw_s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/pdf")

    with pytest.raises(error):
        await s3_storage.verify_upload(key, max_bytes=max_bytes, inspect_head=ATTACHMENT)

    assert await s3_storage.stat(key) is None


async def test_an_unreachable_backend_is_unavailable(unreachable_endpoint: str) -> None:
    storage = s3_storage_for(
        unreachable_endpoint, "any-bucket", connect_timeout=0.5, read_timeout=0.5, max_attempts=1
    )
    async with storage:
        with pytest.raises(StorageUnavailable):
            await storage.stat(new_key())
        with pytest.raises(StorageUnavailable):
            await storage.put_stream(new_key(), Source(PDF).chunks(), max_bytes=MIB)


def test_parts_smaller_than_s3_allows_are_refused() -> None:
    with pytest.raises(ValueError, match="part_size"):
        s3_storage_for("http://127.0.0.1:1", "b", part_size=MIN_PART_SIZE - 1)
