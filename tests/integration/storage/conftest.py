"""Fixtures of the storage adapter tests: sample files, sources that count what was read,
a settable clock, and an S3 (moto in server mode, on a free local port) for the session."""

from __future__ import annotations

import io
import socket
import uuid
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto.server import ThreadedMotoServer

from vetchart.adapters.storage.s3 import MIN_PART_SIZE, S3ObjectStorage
from vetchart.domain.uploads import ObjectKey, UploadKind

S3_ACCESS_KEY = "testing-access-key"
S3_SECRET_KEY = "testing-secret-key"
S3_REGION = "us-east-1"
T0 = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64


def wav_bytes(frames: int = 2000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x01\x02" * frames)
    return buffer.getvalue()


def new_key(kind: UploadKind = UploadKind.RECORD_ATTACHMENT) -> str:
    return ObjectKey.new(kind, now=T0, object_id=uuid.uuid4()).value


@dataclass
class FakeClock:
    current: datetime = T0

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass
class Source:
    """An upload body: ``head`` then ``count`` chunks of ``filler``; it records how many
    chunks were taken and may raise after ``fail_after`` of them."""

    head: bytes
    filler: bytes = b""
    count: int = 0
    fail_after: int | None = None
    taken: int = 0
    closed: bool = False
    sent: bytearray = field(default_factory=bytearray)

    @property
    def total(self) -> int:
        return 1 + self.count

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            for index in range(self.total):
                if self.fail_after is not None and index >= self.fail_after:
                    raise ConnectionResetError("client went away")
                self.taken += 1
                chunk = self.head if index == 0 else self.filler
                self.sent += chunk
                yield chunk
        finally:
            self.closed = True


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def unreachable_endpoint() -> str:
    """A local port nothing listens on."""
    return f"http://127.0.0.1:{_free_port()}"


def s3_storage_for(endpoint: str, bucket: str, **overrides: Any) -> S3ObjectStorage:
    options: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region": S3_REGION,
        "access_key": S3_ACCESS_KEY,
        "secret_key": S3_SECRET_KEY,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "max_attempts": 2,
        "part_size": MIN_PART_SIZE,
        "force_path_style": True,
    }
    options.update(overrides)
    return S3ObjectStorage(bucket, **options)


@pytest.fixture(scope="session")
def raw_s3(moto_endpoint: str) -> Any:
    """A plain (synchronous) client, to look behind the adapter's back."""
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
    )


@pytest.fixture
def bucket(raw_s3: Any) -> str:
    name = f"vetchart-test-{uuid.uuid4().hex[:12]}"
    raw_s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
async def s3_storage(moto_endpoint: str, bucket: str) -> AsyncIterator[S3ObjectStorage]:
    async with s3_storage_for(moto_endpoint, bucket) as storage:
        yield storage
