"""Uploads done safely (issue 7, item 4): visit audio (streamed raw body), medical-record
attachments (streamed multipart), the pre-signed flows (local storage and S3), signed
URLs, verified reads, the orphan sweep, and the audit rows.

One app, one database and one files folder for the module (local storage, small limits);
each test makes its own visits and records. "Nothing stored" is checked on the folder
itself (every file under it, temporary files included) and on the database rows. Request
bodies are async generators that count what the server pulled, so "reading stops at the
limit" and "refused before the body is read" are measured, not assumed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from uuid import UUID

import boto3  # type: ignore[import-untyped]
import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import Response
from moto.server import ThreadedMotoServer
from sqlalchemy import select
from starlette.types import Message

from tests.api.audit_checks import audit_rows
from tests.api.auth_helpers import (
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    new_client,
)
from tests.api.clients_helpers import assert_problem
from tests.conftest import make_settings
from tests.fixtures.world import World as BaseWorld
from tests.fixtures.world import open_world
from vetchart.adapters.db.tables import record_attachments, visits
from vetchart.adapters.observability.logging import configure_logging
from vetchart.adapters.storage.local import sign
from vetchart.api.app import create_app
from vetchart.api.multipart import MAX_FIELDS
from vetchart.config import RateLimitSettings, Settings, StorageSettings
from vetchart.domain.uploads import ObjectKey, UploadKind, is_object_key, sanitize_filename
from vetchart.services.ports.storage import HEAD_BYTES, SignedUrlTerms

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"
KIB = 1024
AUDIO_LIMIT = 256 * KIB
ATTACHMENT_LIMIT = 64 * KIB
CHUNK = 8 * KIB
# Local storage reads objects back in 64 KiB chunks: bigger files span several.
BIG_AUDIO_BYTES = 200 * KIB

S3_ACCESS_KEY = "testing-access-key"
S3_SECRET_KEY = "testing-secret-key"
S3_REGION = "us-east-1"

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x00\x00\x01" * 2 + b"\x08\x02" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\0" * 64
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64
HTML = b"<!doctype html><html><script>alert(1)</script></html>\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>\n'
TEXT = b"Lab report: all values within the reference range.\n"


def wav(size: int = 4 * KIB) -> bytes:
    """A PCM WAV file of exactly ``size`` bytes (44-byte header), not all zeros."""
    import struct

    frames = (size - 44) // 2
    data = bytes((i * 7) % 251 for i in range(frames * 2))
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    whole = header + fmt + b"data" + struct.pack("<I", len(data)) + data
    return whole + b"\0" * (size - len(whole))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- bodies


@dataclass
class Body:
    """A request body: ``data`` in ``chunk``-sized pieces, counting what the server pulls;
    with ``fail_after`` it raises (the client went away) after that many chunks."""

    data: bytes
    chunk: int = CHUNK
    fail_after: int | None = None
    pulled: int = 0
    chunks_pulled: int = 0

    async def stream(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            if self.fail_after is not None and self.chunks_pulled >= self.fail_after:
                raise ConnectionResetError("client went away")
            piece = self.data[start : start + self.chunk]
            self.pulled += len(piece)
            self.chunks_pulled += 1
            yield piece


def multipart(
    parts: list[tuple[str, str | None, bytes]], boundary: str = "vetchart-boundary-1234"
) -> tuple[bytes, str]:
    """A multipart/form-data body built by hand (file names sent byte for byte, as a
    hostile client would); ``parts`` are (field name, file name or None, content)."""
    out = bytearray()
    for name, file_name, content in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if file_name is not None:
            disposition += f'; filename="{file_name}"'
        out += b"Content-Disposition: " + disposition.encode("utf-8", "surrogateescape")
        out += b"\r\n"
        if file_name is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


# --------------------------------------------------------------------------- the world


@dataclass
class World(BaseWorld):
    files: Path = Path()
    pet_id: str = ""  # a pet of OWNER, a client of both practices
    other_pet_id: str = ""  # a pet of a client of Riverside only (Hillcrest cannot see it)

    def stored(self) -> set[str]:
        """Every file under the storage folder (objects, metadata, temporary files)."""
        return {p.relative_to(self.files).as_posix() for p in self.files.rglob("*") if p.is_file()}

    async def new_visit(self, pet_id: str | None = None) -> str:
        response = await self.client.post(
            f"{API}/pets/{pet_id or self.pet_id}/visits",
            json={"visit_date": datetime.now(UTC).isoformat()},
            headers=self.headers[RIVERSIDE_TECH],
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def new_record(self, pet_id: str | None = None) -> str:
        day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
        response = await self.client.post(
            f"{API}/pets/{pet_id or self.pet_id}/medical-records",
            json={"record_type": "checkup", "title": "Upload check", "visit_date": day},
            headers=self.headers[RIVERSIDE_VET],
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def visit_row(self, visit_id: str) -> dict[str, Any]:
        async with self.container.engine.connect() as conn:
            row = (
                (await conn.execute(select(visits).where(visits.c.id == UUID(visit_id))))
                .mappings()
                .one()
            )
        return dict(row)

    async def attachment_rows(self, record_id: str) -> list[dict[str, Any]]:
        query = select(record_attachments).where(record_attachments.c.record_id == UUID(record_id))
        async with self.container.engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def put_audio(
        self, visit_id: str, content: Any, content_type: str = "audio/wav", email: str = ""
    ) -> Response:
        headers = {"Content-Type": content_type, **self.headers[email or RIVERSIDE_TECH]}
        return await self.client.put(
            f"{API}/visits/{visit_id}/audio", content=content, headers=headers
        )

    async def attach(
        self,
        record_id: str,
        body: bytes | Body,
        content_type: str,
        email: str = RIVERSIDE_VET,
    ) -> Response:
        headers = {"Content-Type": content_type, **(self.headers[email] if email else {})}
        content = body.stream() if isinstance(body, Body) else body
        return await self.client.post(
            f"{API}/medical-records/{record_id}/attachments", content=content, headers=headers
        )

    async def fetch(self, location: str) -> Response:
        """Follow a redirect of the API (no bearer token: the signature is the key)."""
        return await self.client.get(location)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    pg_server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    # As `vetchart serve` does: plain tracebacks (structlog's default prints every local
    # of every frame, the uploaded bytes included, and takes seconds per logged error).
    configure_logging(level="WARNING", json=False)
    files = tmp_path_factory.mktemp("upload-files")
    async with open_world(
        pg_server_url,
        template_database,
        "uploads",
        World,
        storage=StorageSettings(
            max_audio_bytes=AUDIO_LIMIT, max_attachment_bytes=ATTACHMENT_LIMIT, files_dir=files
        ),
        rate_limit=RateLimitSettings(enabled=False),
    ) as world:
        world.files = files
        await world.seed_demo()
        await world.sign_in(RIVERSIDE_VET, RIVERSIDE_TECH, HILLCREST_VET, OWNER)
        client, headers = world.client, world.headers
        mine = await client.get(f"{API}/pets?limit=50", headers=headers[OWNER])
        assert mine.status_code == 200, mine.text
        pet = mine.json()["items"][0]
        riverside = await client.get(f"{API}/pets?limit=200", headers=headers[RIVERSIDE_VET])
        hillcrest = await client.get(f"{API}/pets?limit=200", headers=headers[HILLCREST_VET])
        assert riverside.json()["next_cursor"] is None
        assert hillcrest.json()["next_cursor"] is None
        seen_by_hillcrest = {p["id"] for p in hillcrest.json()["items"]}
        other = next(
            p
            for p in riverside.json()["items"]
            if p["owner_id"] != pet["owner_id"] and p["id"] not in seen_by_hillcrest
        )
        world.pet_id = str(pet["id"])
        world.other_pet_id = str(other["id"])
        yield world


# --------------------------------------------------------------------------- audit checks


async def assert_one_row(
    world: World,
    response: Response,
    action: str,
    resource_type: str,
    resource_id: str,
    actor: str,
) -> None:
    """The request left exactly one audit row: this success, by this caller."""
    rows = await audit_rows(world.app, response.headers["x-request-id"])
    where = f"{response.request.method} {response.request.url.path}: {rows}"
    assert len(rows) == 1, where
    row = rows[0]
    assert (row["outcome"], row["action"]) == ("success", action), where
    assert (row["resource_type"], row["resource_id"]) == (resource_type, resource_id), where
    assert row["actor_id"] == world.users[actor].id, where


async def assert_no_row(world: World, response: Response) -> None:
    rows = await audit_rows(world.app, response.headers["x-request-id"])
    assert rows == [], rows


# --------------------------------------------------------------------------- raw ASGI


async def asgi_request(
    app: FastAPI,
    method: str,
    url: str,
    headers: dict[str, str],
    body: list[bytes] | None = None,
    *,
    disconnect_after: int | None = None,
) -> tuple[list[Message], BaseException | None]:
    """One request straight to the ASGI app, recording every message it sends (what a
    client on the wire would get) and the exception it ended with, if any. The body is
    sent as ``body``'s chunks; with ``disconnect_after``, the client disconnects instead
    of sending the chunk of that index."""
    parts = urlsplit(url)
    chunks = list(body or [])
    position = 0
    delivered = False
    sent: list[Message] = []
    finished = asyncio.Event()

    async def receive() -> Message:
        nonlocal position, delivered
        if disconnect_after is not None and position >= disconnect_after:
            return {"type": "http.disconnect"}
        if delivered:
            # The whole body was sent: like a server, wait until the response is over.
            await finished.wait()
            return {"type": "http.disconnect"}
        chunk = chunks[position] if position < len(chunks) else b""
        position += 1
        delivered = position >= len(chunks) and disconnect_after is None
        return {"type": "http.request", "body": chunk, "more_body": not delivered}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            finished.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.10", 50000),
        "server": ("testserver", 80),
    }
    try:
        await app(scope, receive, send)
    except Exception as error:
        return sent, error
    finally:
        finished.set()
    return sent, None


def sent_status(sent: list[Message]) -> int | None:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    return int(starts[0]["status"]) if starts else None


def sent_body(sent: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def sent_complete(sent: list[Message]) -> bool:
    """The response ended normally (its last body message said no more body)."""
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    return bool(bodies) and not bodies[-1].get("more_body", False)


# =========================================================================== audio PUT


async def test_audio_upload_records_the_checksum_and_is_read_back_verified(
    world: World,
) -> None:
    visit_id = await world.new_visit()
    audio = wav(BIG_AUDIO_BYTES)
    before = world.stored()

    response = await world.put_audio(visit_id, Body(audio).stream(), content_type="audio/mpeg")

    assert response.status_code == 201, response.text
    out = response.json()["audio"]
    assert out == {"content_type": "audio/wav", "size_bytes": len(audio), "sha256": sha256(audio)}
    await assert_one_row(world, response, "visit.audio_upload", "visit", visit_id, RIVERSIDE_TECH)
    row = await world.visit_row(visit_id)
    assert row["audio_sha256"] == sha256(audio)
    assert row["audio_size_bytes"] == len(audio)
    key = row["audio_key"]
    assert ObjectKey.parse(key).kind is UploadKind.VISIT_AUDIO
    assert world.stored() - before == {key, f"{key}.meta.json"}
    assert (world.files / key).read_bytes() == audio

    # The owner reads it: a redirect to a short-lived signed URL, one audit row.
    redirect = await world.client.get(
        f"{API}/visits/{visit_id}/audio", headers=world.headers[OWNER]
    )
    assert redirect.status_code == 307, redirect.text
    await assert_one_row(world, redirect, "visit.audio_read", "visit", visit_id, OWNER)
    location = redirect.headers["location"]
    assert location.startswith(f"{API}/files/{key}?")
    fetched = await world.fetch(location)
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == audio
    assert fetched.headers["content-type"].startswith("audio/wav")
    assert fetched.headers["content-length"] == str(len(audio))
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert fetched.headers["content-disposition"].startswith("attachment")
    digest = base64.b64encode(hashlib.sha256(audio).digest()).decode()
    assert fetched.headers["repr-digest"] == f"sha-256=:{digest}:"
    await assert_no_row(world, fetched)  # the audited read was the redirect


async def test_a_new_recording_replaces_the_old_one_and_its_object(world: World) -> None:
    visit_id = await world.new_visit()
    first = await world.put_audio(visit_id, wav(3 * KIB))
    assert first.status_code == 201, first.text
    old_key = (await world.visit_row(visit_id))["audio_key"]
    second = await world.put_audio(visit_id, wav(5 * KIB))
    assert second.status_code == 201, second.text
    row = await world.visit_row(visit_id)
    assert row["audio_key"] != old_key
    assert row["audio_sha256"] == sha256(wav(5 * KIB))
    assert not (world.files / old_key).exists()
    assert not (world.files / f"{old_key}.meta.json").exists()


async def test_oversize_audio_is_refused_while_streaming_and_nothing_is_stored(
    world: World,
) -> None:
    visit_id = await world.new_visit()
    kept = await world.put_audio(visit_id, wav(3 * KIB))  # an earlier recording stays
    assert kept.status_code == 201
    row_before = await world.visit_row(visit_id)
    before = world.stored()
    body = Body(wav(4 * 1024 * KIB))  # 4 MiB against a 256 KiB limit

    response = await world.put_audio(visit_id, body.stream())

    problem = assert_problem(response, 413)
    assert problem["max_bytes"] == AUDIO_LIMIT
    # Reading stopped at the limit: at most one chunk past it was pulled.
    assert AUDIO_LIMIT < body.pulled <= AUDIO_LIMIT + CHUNK, body.pulled
    assert world.stored() == before
    assert await world.visit_row(visit_id) == row_before
    await assert_no_row(world, response)


async def test_oversize_audio_with_a_known_length_is_refused_too(world: World) -> None:
    visit_id = await world.new_visit()
    before = world.stored()
    response = await world.put_audio(visit_id, wav(AUDIO_LIMIT + 1))
    assert_problem(response, 413)
    assert world.stored() == before
    assert (await world.visit_row(visit_id))["audio_key"] is None


async def test_audio_exactly_at_the_limit_is_accepted(world: World) -> None:
    visit_id = await world.new_visit()
    audio = wav(AUDIO_LIMIT)
    response = await world.put_audio(visit_id, Body(audio).stream())
    assert response.status_code == 201, response.text
    assert response.json()["audio"]["size_bytes"] == AUDIO_LIMIT


@pytest.mark.parametrize(
    ("content", "declared", "detected"),
    [
        (PNG, "audio/mpeg", "image/png"),
        (TEXT, "audio/wav", "text/plain"),
        (ELF, "audio/mpeg", "application/x-executable"),
        (PDF, "audio/ogg", "application/pdf"),
        (HTML, "audio/webm", "text/html"),
        (b"\x00\x01\x02\x03" * 64, "audio/mpeg", None),
    ],
    ids=["png", "text", "elf", "pdf", "html", "unknown"],
)
async def test_audio_judged_by_content_not_by_its_content_type(
    world: World, content: bytes, declared: str, detected: str | None
) -> None:
    visit_id = await world.new_visit()
    row_before = await world.visit_row(visit_id)
    before = world.stored()
    body = Body(content + b"a" * (512 * KIB), chunk=CHUNK)  # big: only the head is read

    response = await world.put_audio(visit_id, body.stream(), content_type=declared)

    problem = assert_problem(response, 415)
    assert problem["detected_type"] == detected
    assert "audio/wav" in problem["allowed_types"]
    assert body.pulled <= HEAD_BYTES + CHUNK, body.pulled
    assert world.stored() == before
    assert await world.visit_row(visit_id) == row_before
    await assert_no_row(world, response)


async def test_empty_audio_is_refused(world: World) -> None:
    visit_id = await world.new_visit()
    before = world.stored()
    response = await world.put_audio(visit_id, b"")
    problem = assert_problem(response, 422)
    assert problem["rule"] == "upload.not_empty"
    streamed = await world.put_audio(visit_id, Body(b"").stream())
    assert_problem(streamed, 422)
    assert world.stored() == before
    assert (await world.visit_row(visit_id))["audio_key"] is None


async def test_interrupted_audio_upload_leaves_no_row_no_object_no_temp_file(
    world: World,
) -> None:
    visit_id = await world.new_visit()
    row_before = await world.visit_row(visit_id)
    before = world.stored()
    body = Body(wav(128 * KIB), fail_after=6)  # past the head: a temporary file was open

    try:
        response = await world.put_audio(visit_id, body.stream())
    except ConnectionResetError:
        pass
    else:
        assert response.status_code >= 400, response.text
        await assert_no_row(world, response)
    assert body.chunks_pulled == 6
    assert world.stored() == before
    assert await world.visit_row(visit_id) == row_before


async def test_client_disconnect_mid_upload_leaves_nothing(world: World) -> None:
    """What a server sees when the connection drops: an ``http.disconnect`` message."""
    visit_id = await world.new_visit()
    row_before = await world.visit_row(visit_id)
    before = world.stored()
    audio = wav(96 * KIB)
    chunks = [audio[i : i + CHUNK] for i in range(0, len(audio), CHUNK)]

    sent, error = await asgi_request(
        world.app,
        "PUT",
        f"{API}/visits/{visit_id}/audio",
        {**world.headers[RIVERSIDE_TECH], "content-type": "audio/wav"},
        chunks,
        disconnect_after=5,
    )

    assert error is None, error
    assert sent_status(sent) == 400, sent
    assert b"upload-interrupted" in sent_body(sent)
    assert world.stored() == before
    assert await world.visit_row(visit_id) == row_before


async def test_audio_upload_permissions_are_checked_before_the_body_is_read(
    world: World,
) -> None:
    mine = await world.new_visit()
    other = await world.new_visit(world.other_pet_id)
    rows_before = [await world.visit_row(mine), await world.visit_row(other)]
    before = world.stored()
    cases = [
        (OWNER, mine, 403),  # the owner sees the visit, may not change it
        (OWNER, other, 404),  # someone else's pet: it does not exist
        (HILLCREST_VET, mine, 403),  # a shared client: visible, but Riverside's visit
        (HILLCREST_VET, other, 404),  # not Hillcrest's client: it does not exist
        (None, mine, 401),
        (RIVERSIDE_TECH, str(uuid.uuid4()), 404),
    ]
    for email, visit_id, status in cases:
        body = Body(wav(64 * KIB))
        headers = {"Content-Type": "audio/wav", **(world.headers[email] if email else {})}
        response = await world.client.put(
            f"{API}/visits/{visit_id}/audio", content=body.stream(), headers=headers
        )
        assert_problem(response, status)
        assert body.pulled == 0, (email, body.pulled)
    assert world.stored() == before
    assert [await world.visit_row(mine), await world.visit_row(other)] == rows_before


async def test_reading_audio_is_scoped(world: World) -> None:
    visit_id = await world.new_visit(world.other_pet_id)
    assert (await world.put_audio(visit_id, wav())).status_code == 201
    url = f"{API}/visits/{visit_id}/audio"
    assert_problem(await world.client.get(url), 401)
    assert_problem(await world.client.get(url, headers=world.headers[HILLCREST_VET]), 404)
    assert_problem(await world.client.get(url, headers=world.headers[OWNER]), 404)
    assert (await world.client.get(url, headers=world.headers[RIVERSIDE_VET])).status_code == 307
    no_audio = await world.new_visit()
    assert_problem(
        await world.client.get(f"{API}/visits/{no_audio}/audio", headers=world.headers[OWNER]), 404
    )


# =========================================================================== signed URLs


def _with_query(location: str, **changes: str) -> str:
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return f"{parts.path}?{urlencode(query)}"


def _signing_key(settings: Settings) -> bytes:
    """The local storage's URL-signing key, derived as bootstrap.build_storage does."""
    secret = settings.auth.encryption_key.get_secret_value().encode()
    return hashlib.sha256(b"vetchart-files:" + secret).digest()


async def test_signed_urls_cannot_be_forged_altered_reused_or_used_late(world: World) -> None:
    visit_id = await world.new_visit()
    assert (await world.put_audio(visit_id, wav())).status_code == 201
    other_visit = await world.new_visit()
    assert (await world.put_audio(other_visit, wav(6 * KIB))).status_code == 201
    location = (
        await world.client.get(f"{API}/visits/{visit_id}/audio", headers=world.headers[OWNER])
    ).headers["location"]
    other_key = (await world.visit_row(other_visit))["audio_key"]
    key = (await world.visit_row(visit_id))["audio_key"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert (await world.fetch(location)).status_code == 200

    sig = query["sig"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    forged = hmac.new(b"k" * 32, b"anything", hashlib.sha256).hexdigest()
    refused = {
        "altered signature": _with_query(location, sig=flipped),
        "forged signature": _with_query(location, sig=forged),
        "later expiry": _with_query(location, expires=str(int(query["expires"]) + 3600)),
        "another key": _with_query(location.replace(key, other_key)),
        "declared method": _with_query(location, method="PUT"),
    }
    for name, url in refused.items():
        response = await world.fetch(url)
        assert response.status_code in (403, 422), (name, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), name
        assert wav() not in response.content, name

    # A genuine signature that has expired.
    expired_at = int(datetime.now(UTC).timestamp()) - 5
    expired_sig = sign(_signing_key(world.settings), SignedUrlTerms(key, "GET", expired_at))
    expired = await world.fetch(
        f"{API}/files/{key}?{urlencode({'expires': expired_at, 'sig': expired_sig})}"
    )
    assert assert_problem(expired, 403)["type"].endswith("signature-expired")
    # ...and the same trick with a future expiry is a valid link (the helper is right).
    good_at = expired_at + 600
    good_sig = sign(_signing_key(world.settings), SignedUrlTerms(key, "GET", good_at))
    good = await world.fetch(
        f"{API}/files/{key}?{urlencode({'expires': good_at, 'sig': good_sig})}"
    )
    assert good.status_code == 200
    assert good.content == wav()

    # A GET link does not allow a PUT (which would overwrite the recording).
    put = await world.client.put(location, content=wav(8 * KIB))
    assert put.status_code in (403, 422), put.text
    put = await world.client.put(_with_query(location, method="PUT"), content=wav(8 * KIB))
    assert_problem(put, 403)
    assert (world.files / key).read_bytes() == wav()

    # Paths that are not keys the server made.
    for path in ("../../etc/passwd", "visit_audio/../../../etc/passwd", "etc/passwd"):
        response = await world.fetch(
            f"{API}/files/{path}?{urlencode({'expires': good_at, 'sig': good_sig})}"
        )
        assert response.status_code in (403, 404), (path, response.status_code)
        assert b"root:" not in response.content


# =========================================================================== verified reads


async def _audio_location(world: World, audio: bytes) -> tuple[str, Path]:
    visit_id = await world.new_visit()
    assert (await world.put_audio(visit_id, audio)).status_code == 201
    key = (await world.visit_row(visit_id))["audio_key"]
    redirect = await world.client.get(
        f"{API}/visits/{visit_id}/audio", headers=world.headers[OWNER]
    )
    assert redirect.status_code == 307
    return redirect.headers["location"], world.files / key


@pytest.mark.parametrize("size", [6 * KIB, BIG_AUDIO_BYTES], ids=["one-chunk", "many-chunks"])
async def test_a_file_changed_on_disk_is_never_served_as_a_whole(world: World, size: int) -> None:
    audio = wav(size)
    location, path = await _audio_location(world, audio)
    tampered = bytearray(audio)
    tampered[-100] ^= 0xFF  # same size: the stored metadata still "matches"
    path.write_bytes(bytes(tampered))

    sent, error = await asgi_request(world.app, "GET", location, {})

    # The transfer is broken: headers may have gone out, the full body never does.
    assert error is not None
    body = sent_body(sent)
    assert not sent_complete(sent)
    assert len(body) < size
    assert bytes(tampered) != body
    assert not body.endswith(bytes(tampered[-100:]))
    if sent_status(sent) is not None:
        starts = next(m for m in sent if m["type"] == "http.response.start")
        headers = {k.decode(): v.decode() for k, v in starts["headers"]}
        digest = base64.b64encode(hashlib.sha256(audio).digest()).decode()
        assert headers["repr-digest"] == f"sha-256=:{digest}:"
    # Through the test client the failure surfaces as an error, not as a response.
    with pytest.raises(Exception, match="checksum"):
        await world.fetch(location)
    # Put back, it is served again.
    path.write_bytes(audio)
    assert (await world.fetch(location)).content == audio


async def test_a_file_that_grew_on_disk_is_not_served(world: World) -> None:
    audio = wav(6 * KIB)
    location, path = await _audio_location(world, audio)
    with path.open("ab") as file:
        file.write(b"<script>alert(1)</script>")

    sent, _error = await asgi_request(world.app, "GET", location, {})

    assert b"<script>" not in sent_body(sent)
    assert sent_status(sent) in (500, None)


# =========================================================================== attachments


@pytest.mark.parametrize(
    ("content", "declared", "stored_type"),
    [
        (PDF, "image/png", "application/pdf"),
        (PNG, "application/pdf", "image/png"),
        (JPEG, "application/octet-stream", "image/jpeg"),
    ],
    ids=["pdf", "png", "jpeg"],
)
async def test_attachments_are_judged_by_content_listed_and_read_back(
    world: World, content: bytes, declared: str, stored_type: str
) -> None:
    record_id = await world.new_record()
    before = world.stored()
    body, content_type = multipart(
        [("description", None, b"  Lab result  "), ("file", "result.bin", content)]
    )
    response = await world.attach(record_id, body, content_type)

    assert response.status_code == 201, response.text
    out = response.json()
    assert out["content_type"] == stored_type
    assert out["size_bytes"] == len(content)
    assert out["sha256"] == sha256(content)
    assert out["file_name"] == "result.bin"
    assert out["description"] == "Lab result"
    assert out["record_id"] == record_id
    await assert_one_row(
        world, response, "attachment.create", "attachment", out["id"], RIVERSIDE_VET
    )
    (row,) = await world.attachment_rows(record_id)
    assert world.stored() - before == {row["object_key"], f"{row['object_key']}.meta.json"}
    assert row["sha256"] == sha256(content)

    listed = await world.client.get(
        f"{API}/medical-records/{record_id}/attachments", headers=world.headers[OWNER]
    )
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [out["id"]]
    assert listed.json()["items"][0] == out
    await assert_one_row(world, listed, "attachment.list", "medical_record", record_id, OWNER)

    redirect = await world.client.get(
        f"{API}/attachments/{out['id']}/content", headers=world.headers[OWNER]
    )
    assert redirect.status_code == 307, redirect.text
    await assert_one_row(world, redirect, "attachment.read", "attachment", out["id"], OWNER)
    fetched = await world.fetch(redirect.headers["location"])
    assert fetched.status_code == 200
    assert fetched.content == content
    assert fetched.headers["content-type"].startswith(stored_type)
    assert fetched.headers["x-content-type-options"] == "nosniff"


async def test_a_multipart_upload_sent_by_a_real_client_library(world: World) -> None:
    """httpx's own multipart encoder (quoting, header order) works as well."""
    record_id = await world.new_record()
    response = await world.client.post(
        f"{API}/medical-records/{record_id}/attachments",
        files={"file": ("x-ray.png", PNG, "image/png")},
        data={"description": "Chest"},
        headers=world.headers[RIVERSIDE_VET],
    )
    assert response.status_code == 201, response.text
    assert response.json()["file_name"] == "x-ray.png"
    assert response.json()["description"] == "Chest"


@pytest.mark.parametrize(
    ("content", "declared", "detected"),
    [
        (HTML, "application/pdf", "text/html"),
        (SVG, "image/png", "image/svg+xml"),
        (ELF, "image/png", "application/x-executable"),
        (wav(2 * KIB), "application/pdf", "audio/x-wav"),
    ],
    ids=["html", "svg", "elf", "wav"],
)
async def test_attachments_with_a_lying_type_are_refused(
    world: World, content: bytes, declared: str, detected: str
) -> None:
    record_id = await world.new_record()
    before = world.stored()
    body, content_type = multipart([("file", "scan.pdf", content)])
    body = body.replace(b"application/octet-stream", declared.encode())
    response = await world.attach(record_id, body, content_type)
    problem = assert_problem(response, 415)
    assert problem["detected_type"] == detected
    assert world.stored() == before
    assert await world.attachment_rows(record_id) == []
    await assert_no_row(world, response)


NASTY_NAMES = {
    "unix traversal": ("../../etc/passwd", "passwd"),
    "windows traversal": ("..\\..\\boot.ini", "boot.ini"),
    "absolute": ("/var/lib/vetchart/files/x.pdf", "x.pdf"),
    "nul": ("scan\x00.pdf", "scan.pdf"),
    "controls": ("sc\x01an\x1b[31m\x7f.pdf", "scan[31m.pdf"),
    "whitespace": ("scan\tof the\x0b\x0cchest.pdf", "scan of the chest.pdf"),
    "bidi override": ("invoice\u202egnp.pdf", "invoicegnp.pdf"),
    "dots only": ("..", "upload"),
    "hidden": (".htaccess", "htaccess"),
    "long": ("a" * 1000 + ".pdf", "a" * 251 + ".pdf"),
}


@pytest.mark.parametrize("name", list(NASTY_NAMES), ids=list(NASTY_NAMES))
async def test_client_file_names_are_only_sanitized_metadata(world: World, name: str) -> None:
    raw, expected = NASTY_NAMES[name]
    record_id = await world.new_record()
    before = world.stored()
    body, content_type = multipart([("file", raw, PDF)])
    response = await world.attach(record_id, body, content_type)

    assert response.status_code == 201, response.text
    file_name = response.json()["file_name"]
    assert file_name == expected == sanitize_filename(raw)
    assert not any(c in file_name for c in "/\\\x00\r\n")
    assert len(file_name.encode()) <= 255
    (row,) = await world.attachment_rows(record_id)
    assert row["file_name"] == file_name
    key = row["object_key"]
    assert is_object_key(key)
    assert key.startswith("record_attachment/")
    # The only new files are the object under its server-made key and its metadata.
    assert world.stored() - before == {key, f"{key}.meta.json"}
    assert not any(expected.split(".")[0] in path for path in world.stored() - before)
    assert not (world.files.parent / "etc").exists()


async def test_empty_oversize_and_malformed_attachments(world: World) -> None:
    record_id = await world.new_record()
    before = world.stored()

    empty, content_type = multipart([("file", "empty.pdf", b"")])
    assert assert_problem(await world.attach(record_id, empty, content_type), 422)["rule"] == (
        "upload.not_empty"
    )

    big = Body(multipart([("file", "big.pdf", PDF + b"\n" * (4 * ATTACHMENT_LIMIT))])[0])
    response = await world.attach(record_id, big, content_type)
    assert assert_problem(response, 413)["max_bytes"] == ATTACHMENT_LIMIT
    assert big.pulled <= ATTACHMENT_LIMIT + 2 * CHUNK, big.pulled
    await assert_no_row(world, response)

    no_file, content_type = multipart([("description", None, b"only words")])
    assert assert_problem(await world.attach(record_id, no_file, content_type), 422)["rule"] == (
        "upload.file_required"
    )
    wrong_field, content_type = multipart([("document", "scan.pdf", PDF)])
    assert_problem(await world.attach(record_id, wrong_field, content_type), 422)
    two_files, content_type = multipart([("file", "a.pdf", PDF), ("file", "b.pdf", PDF)])
    assert_problem(await world.attach(record_id, two_files, content_type), 422)

    # Not multipart at all: 415, whatever the body.
    for declared, payload in (
        ("application/json", b'{"file": "JVBERi0xLjQ="}'),
        ("application/pdf", PDF),
        ("application/x-www-form-urlencoded", b"file=x"),
    ):
        assert_problem(await world.attach(record_id, payload, declared), 415)
    # A multipart form without its boundary is malformed (400).
    assert_problem(await world.attach(record_id, PDF, "multipart/form-data"), 400)

    # Cut off before its closing boundary: refused (malformed), not stored as if whole.
    whole, content_type = multipart([("file", "scan.pdf", PDF + b"x" * 10 * KIB)])
    truncated = whole[: len(whole) - 200]
    response = await world.attach(record_id, truncated, content_type)
    assert assert_problem(response, 400)["type"].endswith("/malformed-form")

    # Garbage where the parts should be.
    garbage = b"--vetchart-boundary-1234\r\nnot a header line\x00\r\n\r\n" + PDF
    assert 400 <= (await world.attach(record_id, garbage, content_type)).status_code < 500

    assert world.stored() == before
    assert await world.attachment_rows(record_id) == []


async def test_multipart_overheads_are_bounded(world: World) -> None:
    record_id = await world.new_record()
    before = world.stored()
    many, content_type = multipart(
        [(f"field{i}", None, b"x") for i in range(MAX_FIELDS + 1)] + [("file", "a.pdf", PDF)]
    )
    assert assert_problem(await world.attach(record_id, many, content_type), 422)["rule"] == (
        "form.too_many_fields"
    )
    long_field, content_type = multipart(
        [("description", None, b"x" * 10 * KIB), ("file", "a.pdf", PDF)]
    )
    assert_problem(await world.attach(record_id, long_field, content_type), 422)
    # A part header past the limit (a 40 KiB file name) is refused as malformed.
    huge_name, content_type = multipart([("file", "n" * 40 * KIB + ".pdf", PDF)])
    assert_problem(await world.attach(record_id, huge_name, content_type), 400)
    # An endless epilogue after the closing boundary is not read.
    body, content_type = multipart([("file", "a.pdf", PDF)])
    tail = Body(body + b"x" * (4 * ATTACHMENT_LIMIT))
    response = await world.attach(record_id, tail, content_type)
    assert response.status_code == 201, response.text
    assert tail.pulled <= len(body) + CHUNK, tail.pulled
    assert len(world.stored() - before) == 2


async def test_interrupted_attachment_upload_leaves_nothing(world: World) -> None:
    record_id = await world.new_record()
    before = world.stored()
    body, content_type = multipart([("file", "scan.pdf", PDF + b"\n" * (40 * KIB))])
    chunks = [body[i : i + CHUNK] for i in range(0, len(body), CHUNK)]
    sent, error = await asgi_request(
        world.app,
        "POST",
        f"{API}/medical-records/{record_id}/attachments",
        {**world.headers[RIVERSIDE_VET], "content-type": content_type},
        chunks,
        disconnect_after=3,
    )
    assert error is None, error
    assert sent_status(sent) == 400
    failing = Body(body, fail_after=3)
    try:
        response = await world.attach(record_id, failing, content_type)
    except ConnectionResetError:
        pass
    else:
        assert response.status_code >= 400
    assert world.stored() == before
    assert await world.attachment_rows(record_id) == []


async def test_refused_callers_store_nothing_and_send_nothing_read(world: World) -> None:
    own_record = await world.new_record()  # on OWNER's pet
    other_record = await world.new_record(world.other_pet_id)
    hillcrest_pets = await world.client.get(f"{API}/pets", headers=world.headers[HILLCREST_VET])
    before = world.stored()
    payload, content_type = multipart([("file", "scan.pdf", PDF + b"\n" * (30 * KIB))])
    cases = [
        (OWNER, own_record, 403),  # sees the record, may not change it
        (OWNER, other_record, 404),  # someone else's pet
        (HILLCREST_VET, other_record, 404),  # another practice's client
        ("", own_record, 401),
        (RIVERSIDE_VET, str(uuid.uuid4()), 404),
    ]
    for email, record_id, status in cases:
        body = Body(payload)
        response = await world.attach(record_id, body, content_type, email=email)
        assert_problem(response, status)
        assert body.pulled == 0, (email, record_id, body.pulled)
    assert hillcrest_pets.status_code == 200
    assert world.stored() == before
    assert await world.attachment_rows(own_record) == []
    assert await world.attachment_rows(other_record) == []


async def test_reading_attachments_is_scoped(world: World) -> None:
    record_id = await world.new_record(world.other_pet_id)
    body, content_type = multipart([("file", "scan.pdf", PDF)])
    created = await world.attach(record_id, body, content_type)
    assert created.status_code == 201, created.text
    attachment_id = created.json()["id"]
    for email, status in ((OWNER, 404), (HILLCREST_VET, 404), ("", 401)):
        headers = world.headers[email] if email else {}
        listed = await world.client.get(
            f"{API}/medical-records/{record_id}/attachments", headers=headers
        )
        assert_problem(listed, status)
        content = await world.client.get(
            f"{API}/attachments/{attachment_id}/content", headers=headers
        )
        assert_problem(content, status)
        assert "location" not in content.headers
    tech = await world.client.get(
        f"{API}/attachments/{attachment_id}/content", headers=world.headers[RIVERSIDE_TECH]
    )
    assert tech.status_code == 307
    assert (await world.fetch(tech.headers["location"])).content == PDF


# =========================================================================== pre-signed, local


def _key_of(upload_url: str) -> str:
    return urlsplit(upload_url).path.removeprefix(f"{API}/files/")


async def test_presigned_flow_with_local_storage(world: World) -> None:
    visit_id = await world.new_visit()
    audio = wav(20 * KIB)
    signed = await world.client.post(
        f"{API}/visits/{visit_id}/audio/upload-url", headers=world.headers[RIVERSIDE_TECH]
    )
    assert signed.status_code == 200, signed.text
    await assert_one_row(world, signed, "visit.audio_upload_url", "visit", visit_id, RIVERSIDE_TECH)
    out = signed.json()
    expires_at = datetime.fromisoformat(out["expires_at"])
    assert datetime.now(UTC) < expires_at <= datetime.now(UTC) + timedelta(seconds=310)
    key = _key_of(out["upload_url"])
    assert ObjectKey.parse(key).kind is UploadKind.VISIT_AUDIO
    assert (await world.visit_row(visit_id))["audio_pending_key"] == key

    # The signed URL needs no token; it allows PUT on this key only, not GET.
    put = await world.client.put(out["upload_url"], content=audio, headers=out["headers"])
    assert put.status_code == 201, put.text
    await assert_no_row(world, put)
    assert (await world.fetch(out["upload_url"])).status_code in (403, 422)

    completed = await world.client.post(
        f"{API}/visits/{visit_id}/audio/complete", headers=world.headers[RIVERSIDE_TECH]
    )
    assert completed.status_code == 200, completed.text
    assert completed.json()["audio"] == {
        "content_type": "audio/wav",
        "size_bytes": len(audio),
        "sha256": sha256(audio),
    }
    assert completed.json()["audio_upload_pending"] is False
    await assert_one_row(world, completed, "visit.audio_upload", "visit", visit_id, RIVERSIDE_TECH)
    row = await world.visit_row(visit_id)
    assert (row["audio_key"], row["audio_pending_key"]) == (key, None)
    redirect = await world.client.get(
        f"{API}/visits/{visit_id}/audio", headers=world.headers[OWNER]
    )
    assert (await world.fetch(redirect.headers["location"])).content == audio

    # The upload URL is still within its lifetime, but it cannot replace the recorded
    # object behind the row's back (its SHA-256 would no longer be the recorded one).
    replaced = await world.client.put(out["upload_url"], content=wav(24 * KIB))
    assert_problem(replaced, 409)
    assert (world.files / key).read_bytes() == audio
    assert (await world.fetch(redirect.headers["location"])).content == audio

    # Completed once: a second complete has nothing pending.
    again = await world.client.post(
        f"{API}/visits/{visit_id}/audio/complete", headers=world.headers[RIVERSIDE_TECH]
    )
    assert_problem(again, 409)


async def test_local_signed_put_checks_size_and_type_itself(world: World) -> None:
    visit_id = await world.new_visit()
    out = (
        await world.client.post(
            f"{API}/visits/{visit_id}/audio/upload-url", headers=world.headers[RIVERSIDE_TECH]
        )
    ).json()
    before = world.stored()
    assert_problem(await world.client.put(out["upload_url"], content=PNG), 415)
    big = Body(wav(4 * AUDIO_LIMIT))
    assert_problem(await world.client.put(out["upload_url"], content=big.stream()), 413)
    assert big.pulled <= AUDIO_LIMIT + CHUNK
    assert world.stored() == before


async def test_complete_without_an_upload_is_a_conflict(world: World) -> None:
    visit_id = await world.new_visit()
    url = f"{API}/visits/{visit_id}/audio/complete"
    nothing_asked = await world.client.post(url, headers=world.headers[RIVERSIDE_TECH])
    assert_problem(nothing_asked, 409)
    await assert_no_row(world, nothing_asked)
    signed = await world.client.post(
        f"{API}/visits/{visit_id}/audio/upload-url", headers=world.headers[RIVERSIDE_TECH]
    )
    assert signed.status_code == 200
    nothing_sent = await world.client.post(url, headers=world.headers[RIVERSIDE_TECH])
    assert_problem(nothing_sent, 409)
    assert (await world.visit_row(visit_id))["audio_key"] is None
    # Others may neither ask for an upload URL nor complete one.
    other = await world.new_visit(world.other_pet_id)
    for email, target, status in (
        (OWNER, visit_id, 403),
        (OWNER, other, 404),
        (HILLCREST_VET, visit_id, 403),
        (HILLCREST_VET, other, 404),
    ):
        assert_problem(
            await world.client.post(
                f"{API}/visits/{target}/audio/upload-url", headers=world.headers[email]
            ),
            status,
        )
        assert_problem(
            await world.client.post(
                f"{API}/visits/{target}/audio/complete", headers=world.headers[email]
            ),
            status,
        )
    assert (await world.visit_row(other))["audio_pending_key"] is None


async def _stored_behind_the_api(world: World, key: str, data: bytes) -> None:
    """An object PUT straight to storage with no checks (what a client can do to S3)."""

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    await world.container.storage.put_stream(key, chunks(), max_bytes=len(data) + 1)


@pytest.mark.parametrize(
    ("data", "status"),
    [(wav(AUDIO_LIMIT + 4 * KIB), 413), (PNG + b"\0" * KIB, 415), (TEXT, 415)],
    ids=["too-big", "png", "text"],
)
async def test_complete_refuses_a_bad_object_and_deletes_it(
    world: World, data: bytes, status: int
) -> None:
    visit_id = await world.new_visit()
    out = (
        await world.client.post(
            f"{API}/visits/{visit_id}/audio/upload-url", headers=world.headers[RIVERSIDE_TECH]
        )
    ).json()
    key = _key_of(out["upload_url"])
    await _stored_behind_the_api(world, key, data)
    assert (world.files / key).exists()

    response = await world.client.post(
        f"{API}/visits/{visit_id}/audio/complete", headers=world.headers[RIVERSIDE_TECH]
    )

    assert_problem(response, status)
    await assert_no_row(world, response)
    assert not (world.files / key).exists()
    assert not (world.files / f"{key}.meta.json").exists()
    assert (await world.visit_row(visit_id))["audio_key"] is None


# =========================================================================== pre-signed, S3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_settings(url: str, endpoint: str, bucket: str) -> Settings:
    # The credentials are read by their environment names (validation aliases).
    credentials: dict[str, Any] = {
        "VETCHART_S3_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "VETCHART_S3_SECRET_ACCESS_KEY": S3_SECRET_KEY,
    }
    storage = StorageSettings(
        max_audio_bytes=AUDIO_LIMIT,
        max_attachment_bytes=ATTACHMENT_LIMIT,
        s3_bucket=bucket,
        s3_endpoint_url=endpoint,
        s3_region=S3_REGION,
        s3_force_path_style=True,
        s3_connect_timeout_seconds=2,
        s3_read_timeout_seconds=5,
        **credentials,
    )
    assert storage.s3_access_key_id == S3_ACCESS_KEY
    return make_settings(url, storage=storage, rate_limit=RateLimitSettings(enabled=False))


async def test_presigned_flow_with_s3(world: World, moto_endpoint: str) -> None:
    raw = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
    )
    bucket = f"vetchart-uploads-{uuid.uuid4().hex[:10]}"
    raw.create_bucket(Bucket=bucket)
    settings = s3_settings(world.url, moto_endpoint, bucket)
    app = create_app(settings, database_url=world.url)
    async with LifespanManager(app), new_client(app) as client, httpx.AsyncClient() as outside:
        assert app.state.container.signed_files is None  # no local file route
        tech = world.headers[RIVERSIDE_TECH]  # same database, same signing secret
        created = await client.post(
            f"{API}/pets/{world.pet_id}/visits",
            json={"visit_date": datetime.now(UTC).isoformat()},
            headers=tech,
        )
        assert created.status_code == 201, created.text
        visit_id = created.json()["id"]
        audio = wav(40 * KIB)

        signed = await client.post(f"{API}/visits/{visit_id}/audio/upload-url", headers=tech)
        assert signed.status_code == 200, signed.text
        out = signed.json()
        assert out["upload_url"].startswith(f"{moto_endpoint}/{bucket}/visit_audio/")
        put = await outside.put(out["upload_url"], content=audio, headers=out["headers"])
        assert put.status_code == 200, put.text

        completed = await client.post(f"{API}/visits/{visit_id}/audio/complete", headers=tech)
        assert completed.status_code == 200, completed.text
        assert completed.json()["audio"] == {
            "content_type": "audio/wav",
            "size_bytes": len(audio),
            "sha256": sha256(audio),
        }
        key = (await world.visit_row(visit_id))["audio_key"]
        head = raw.head_object(Bucket=bucket, Key=key)
        assert head["Metadata"]["sha256"] == sha256(audio)

        redirect = await client.get(f"{API}/visits/{visit_id}/audio", headers=world.headers[OWNER])
        assert redirect.status_code == 307, redirect.text
        location = redirect.headers["location"]
        assert location.startswith(f"{moto_endpoint}/{bucket}/{key}?")
        assert "X-Amz-Signature=" in location
        fetched = await outside.get(location)
        assert fetched.status_code == 200
        assert fetched.content == audio
        # A direct PUT cannot be checked by S3: complete does, and deletes what it refuses.
        second = (
            await client.post(f"{API}/visits/{visit_id}/audio/upload-url", headers=tech)
        ).json()
        assert (await outside.put(second["upload_url"], content=PNG)).status_code == 200
        refused = await client.post(f"{API}/visits/{visit_id}/audio/complete", headers=tech)
        assert_problem(refused, 415)
        bad_key = urlsplit(second["upload_url"]).path.removeprefix(f"/{bucket}/")
        listed = raw.list_objects_v2(Bucket=bucket).get("Contents", [])
        assert [item["Key"] for item in listed] == [key], (bad_key, listed)
        # ...and the recording in place is untouched.
        assert (await world.visit_row(visit_id))["audio_key"] == key


# =========================================================================== orphan sweep


def _age(world: World, key: str, days: float) -> None:
    stamp = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    os.utime(world.files / key, (stamp, stamp))


async def test_orphan_sweep_removes_only_old_objects_no_row_names(world: World) -> None:
    # Referenced: a recording, an attachment, and a pending signed upload.
    visit_id = await world.new_visit()
    assert (await world.put_audio(visit_id, wav())).status_code == 201
    audio_key = (await world.visit_row(visit_id))["audio_key"]
    record_id = await world.new_record()
    body, content_type = multipart([("file", "scan.pdf", PDF)])
    assert (await world.attach(record_id, body, content_type)).status_code == 201
    attachment_key = (await world.attachment_rows(record_id))[0]["object_key"]
    pending_visit = await world.new_visit()
    signed = await world.client.post(
        f"{API}/visits/{pending_visit}/audio/upload-url", headers=world.headers[RIVERSIDE_TECH]
    )
    pending_key = _key_of(signed.json()["upload_url"])
    assert (await world.client.put(signed.json()["upload_url"], content=wav())).status_code == 201

    now = datetime.now(UTC)
    orphans = [
        ObjectKey.new(kind, now=now, object_id=uuid.uuid4()).value
        for kind in (UploadKind.VISIT_AUDIO, UploadKind.RECORD_ATTACHMENT)
    ]
    young_orphan = ObjectKey.new(UploadKind.VISIT_AUDIO, now=now, object_id=uuid.uuid4()).value
    for key in (*orphans, young_orphan):
        await _stored_behind_the_api(world, key, wav())
    for key in (audio_key, attachment_key, pending_key, *orphans):
        _age(world, key, days=2)
    _age(world, young_orphan, days=0.5)
    # Debris of a crashed write: a temporary file and metadata whose object never came.
    folder = (world.files / orphans[0]).parent
    stale_temp = folder / ".upload-crashed.part"
    stale_temp.write_bytes(b"half an upload")
    stale_meta = folder / f"{uuid.uuid4()}.meta.json"
    stale_meta.write_text("{}")
    fresh_temp = folder / ".upload-in-progress.part"
    fresh_temp.write_bytes(b"still coming")
    for path in (stale_temp, stale_meta):
        stamp = (now - timedelta(days=2)).timestamp()
        os.utime(path, (stamp, stamp))

    done = await world.container.housekeeping.run()

    assert done["orphaned_objects"] == len(orphans)
    for key in orphans:
        assert not (world.files / key).exists(), key
        assert not (world.files / f"{key}.meta.json").exists(), key
    for key in (audio_key, attachment_key, pending_key, young_orphan):
        assert (world.files / key).exists(), key
        assert (world.files / f"{key}.meta.json").exists(), key
    assert not stale_temp.exists()
    assert not stale_meta.exists()
    assert fresh_temp.exists()
    fresh_temp.unlink()
    # What stays is still served.
    redirect = await world.client.get(
        f"{API}/visits/{visit_id}/audio", headers=world.headers[OWNER]
    )
    assert (await world.fetch(redirect.headers["location"])).content == wav()
    # A second run finds nothing more.
    assert await world.container.visits.sweep_orphans(timedelta(days=1)) == 0
