"""Bounded input (issue 13, item 3): every attack of the adversarial review, replayed.

1. Body caps before any work: a Content-Length over the cap is 413 at once (auth routes:
   16 KiB, before the rate limiter, the login attempt and its audit), a chunked body is
   413 as soon as the count passes the cap (the rest is never pulled), uploads keep
   their own limits.
2. Free-form JSON objects (a record's ``data``): 64 KiB serialized, 8 levels deep.
3. NUL characters in JSON strings (values and keys) and query parameters: 422.
4. NaN and Infinity in JSON bodies: 422.
5. Years 1900-2200 in body and query dates.
6. Multipart charsets: only real text encodings (415 otherwise, at the form or part level).
7. Data errors from PostgreSQL (SQLSTATE class 22) are 422, through the API and through
   both database paths (the SQLAlchemy engine, the fast asyncpg pool).

Every refusal is application/problem+json and changes nothing: row counts and the audit
trail are compared before and after.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
import pytest_asyncio
from httpx import Response
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, text
from sqlalchemy.sql.schema import Table

from tests.api.auth_helpers import (
    ADMIN,
    RIVERSIDE_VET,
)
from tests.api.clients_helpers import assert_problem
from tests.fixtures.world import World as BaseWorld
from tests.fixtures.world import open_world
from vetchart.adapters.db.errors import UNSTORABLE_VALUE_RULE, translate_database_error
from vetchart.adapters.db.resilience import is_transient_connection_error
from vetchart.adapters.db.tables import (
    audit_events,
    idempotency_keys,
    login_throttles,
    medical_record_events,
    medical_records,
    pets,
    record_attachments,
)
from vetchart.api.problems import status_for
from vetchart.api.uploads import UPLOAD_ROUTES
from vetchart.config import StorageSettings
from vetchart.domain.errors import RuleViolation

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"
KIB = 1024
MIB = 1024 * KIB
BODY_CAP = MIB  # the defaults of VETCHART_MAX_BODY_BYTES and _MAX_AUTH_BODY_BYTES
AUTH_BODY_CAP = 16 * KIB
ATTACHMENT_LIMIT = 3 * MIB  # above the general cap: uploads keep their own limit
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
_names = itertools.count(1)


# --------------------------------------------------------------------------- the world


@dataclass
class World(BaseWorld):
    pet_id: str = ""  # a dog of a Riverside client

    @property
    def vet(self) -> dict[str, str]:
        return self.headers[RIVERSIDE_VET]

    async def count(self, table: Table) -> int:
        async with self.container.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)

    async def counts(self) -> dict[str, int]:
        """Rows of every table a refused request could have written to."""
        tables = (
            audit_events,
            idempotency_keys,
            login_throttles,
            medical_record_events,
            medical_records,
            pets,
            record_attachments,
        )
        return {table.name: await self.count(table) for table in tables}

    async def refused(self, status: int, request: Awaitable[Response]) -> dict[str, Any]:
        """Send a request that must be refused with ``status`` and change nothing."""
        before = await self.counts()
        response = await request
        body = assert_problem(response, status)
        assert body["request_id"] == response.headers["x-request-id"]
        assert await self.counts() == before
        return body

    def record(self, **overrides: Any) -> dict[str, Any]:
        day = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
        values: dict[str, Any] = {
            "record_type": "checkup",
            "title": "Bounded input check",
            "visit_date": day,
        }
        values.update(overrides)
        return values

    async def create_record(self, body: dict[str, Any] | bytes) -> Response:
        url = f"{API}/pets/{self.pet_id}/medical-records"
        if isinstance(body, bytes):
            headers = {**self.vet, "Content-Type": "application/json"}
            return await self.client.post(url, content=body, headers=headers)
        return await self.client.post(url, json=body, headers=self.vet)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    pg_server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    files = tmp_path_factory.mktemp("bounded-input-files")
    async with open_world(
        pg_server_url,
        template_database,
        "bounded",
        World,
        storage=StorageSettings(files_dir=files, max_attachment_bytes=ATTACHMENT_LIMIT),
    ) as world:
        assert world.settings.server.max_body_bytes == BODY_CAP
        assert world.settings.server.max_auth_body_bytes == AUTH_BODY_CAP
        await world.seed_demo()
        await world.sign_in()
        owner = await world.create_owner(RIVERSIDE_VET, full_name="Bounded Client")
        pet = await world.create_pet(RIVERSIDE_VET, owner["id"], name="Rex", species="dog")
        world.pet_id = pet["id"]
        yield world


@dataclass
class Body:
    """A streamed (chunked) request body that counts what the server pulled."""

    size: int
    chunk: int = 64 * KIB
    pulled: int = 0

    async def stream(self) -> AsyncIterator[bytes]:
        sent = 0
        while sent < self.size:
            piece = b" " * min(self.chunk, self.size - sent)
            sent += len(piece)
            self.pulled += len(piece)
            yield piece


def nested(depth: int) -> dict[str, Any]:
    """A JSON object ``depth`` levels deep (itself level 1)."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"level": value}
    return value


def multipart(
    parts: list[tuple[str, str | None, bytes, str | None]], boundary: str = "bounded-1234"
) -> tuple[bytes, str]:
    """(field name, file name or None, content, part Content-Type or None)."""
    out = bytearray()
    for name, file_name, content, content_type in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"'
        if file_name is not None:
            disposition += f'; filename="{file_name}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if content_type is not None:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


# --------------------------------------------------------------------------- 1. body caps


async def test_an_auth_body_over_its_cap_is_413_before_anything(world: World) -> None:
    """A wrong password in a 17 KiB form: no login attempt, no audit row, no rate count."""
    form = {"username": RIVERSIDE_VET, "password": "wrong " + "x" * (17 * KIB)}
    body = await world.refused(413, world.client.post(f"{API}/auth/token", data=form))
    assert body["max_bytes"] == AUTH_BODY_CAP
    assert body["type"].endswith("/content-too-large")


async def test_a_declared_length_over_the_cap_is_refused_before_reading(world: World) -> None:
    """Not signed in either: 413, not 401 - the body is judged by its header first, and
    not one chunk of it is pulled."""
    body = Body(2 * MIB)
    response = await world.refused(
        413,
        world.client.post(
            f"{API}/pets",
            content=body.stream(),
            headers={"Content-Type": "application/json", "Content-Length": str(2 * MIB)},
        ),
    )
    assert response["max_bytes"] == BODY_CAP
    assert body.pulled == 0


async def test_the_refusal_closes_the_connection_and_keeps_cors(world: World) -> None:
    origin = "https://app.vetchart.test"
    response = await world.client.post(
        f"{API}/auth/refresh",
        content=b"{" + b" " * (20 * KIB) + b"}",
        headers={"Content-Type": "application/json", "Origin": origin},
    )
    assert_problem(response, 413)
    assert response.headers["connection"] == "close"
    assert response.headers["access-control-allow-origin"] == origin
    assert "ratelimit-limit" not in response.headers  # never reached the rate limiter


async def test_a_chunked_body_is_cut_off_at_the_cap(world: World) -> None:
    """No Content-Length: the body is counted as it is read; the 413 goes out as soon as
    the count passes 1 MiB and the remaining 5 MiB are never pulled."""
    body = Body(6 * MIB)
    headers = {**world.vet, "Content-Type": "application/json", "Idempotency-Key": "chunked-1"}
    await world.refused(
        413, world.client.post(f"{API}/pets", content=body.stream(), headers=headers)
    )
    assert BODY_CAP < body.pulled <= BODY_CAP + 2 * body.chunk


async def test_a_chunked_auth_body_is_cut_off_at_the_auth_cap(world: World) -> None:
    body = Body(MIB, chunk=4 * KIB)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    await world.refused(
        413, world.client.post(f"{API}/auth/token", content=body.stream(), headers=headers)
    )
    assert AUTH_BODY_CAP < body.pulled <= AUTH_BODY_CAP + 2 * body.chunk


async def test_a_json_body_over_1_mib_is_413_and_under_it_is_judged_normally(
    world: World,
) -> None:
    big = world.record(description="x" * (BODY_CAP + 1))
    await world.refused(413, world.create_record(big))
    # Just under the cap the body is read and validated: the schema's own limit answers.
    under = world.record(description="x" * (BODY_CAP - 1000))
    refused = await world.refused(422, world.create_record(under))
    assert {tuple(error["loc"]) for error in refused["errors"]} == {("body", "description")}


async def test_an_upload_keeps_its_own_larger_limit(world: World) -> None:
    created = await world.create_record(world.record())
    assert created.status_code == 201, created.text
    record_id = created.json()["id"]
    content = PDF + b"%" + b"0" * (2 * MIB)  # 2 MiB: over the general cap, under 3 MiB
    body, content_type = multipart([("file", "big.pdf", content, "application/pdf")])
    assert len(body) > BODY_CAP
    response = await world.client.post(
        f"{API}/medical-records/{record_id}/attachments",
        content=body,
        headers={**world.vet, "Content-Type": content_type},
    )
    assert response.status_code == 201, response.text
    assert response.json()["size_bytes"] == len(content)
    # Its own limit still holds.
    body, content_type = multipart([("file", "huge.pdf", PDF + b"0" * (4 * MIB), None)])
    refused = await world.refused(
        413,
        world.client.post(
            f"{API}/medical-records/{record_id}/attachments",
            content=body,
            headers={**world.vet, "Content-Type": content_type},
        ),
    )
    assert refused["type"].endswith("/file-too-large")


async def test_the_exempt_uploads_are_exactly_the_streamed_operations(world: World) -> None:
    """Every UPLOAD_ROUTES entry is an operation of the app, and every operation whose body
    is a file (multipart, raw bytes) is an UPLOAD_ROUTES entry. (The local storage's signed
    upload URL documents no body: the client PUTs the bytes the upload-url answer named.)"""
    schema = world.app.openapi()
    operations = {
        (method.upper(), path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    exempt = {(method, re.sub(r"\{(\w+):\w+\}", r"{\1}", path)) for method, path in UPLOAD_ROUTES}
    assert exempt <= set(operations)
    forms = {"application/json", "application/x-www-form-urlencoded"}
    streamed = {
        key
        for key, operation in operations.items()
        if set(operation.get("requestBody", {}).get("content", {})) - forms
    }
    assert streamed == exempt - {("PUT", "/api/v1/files/{key}")}


# --------------------------------------------------------------------------- 2. JSON objects


async def test_data_over_64_kib_is_422_naming_the_field(world: World) -> None:
    body = await world.refused(
        422, world.create_record(world.record(data={"notes": "x" * (65 * KIB)}))
    )
    [error] = body["errors"]
    assert error["loc"] == ["body", "data"]
    assert error["type"] == "json_object_too_large"
    assert "data" in error["msg"]
    assert "65536" in error["msg"]


async def test_data_nested_9_deep_is_422_and_8_deep_is_accepted(world: World) -> None:
    body = await world.refused(422, world.create_record(world.record(data=nested(9))))
    [error] = body["errors"]
    assert error["loc"] == ["body", "data"]
    assert error["type"] == "json_object_too_large"
    assert "8 levels" in error["msg"]
    accepted = await world.create_record(world.record(data=nested(8)))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["data"] == nested(8)


async def test_an_amendment_with_oversized_data_changes_nothing(world: World) -> None:
    created = await world.create_record(world.record())
    assert created.status_code == 201, created.text
    record = created.json()
    headers = {**world.vet, "If-Match": f'"{record["version"]}"'}
    for data in ({"notes": "x" * (65 * KIB)}, nested(9), [nested(9)]):
        await world.refused(
            422,
            world.client.patch(
                f"{API}/medical-records/{record['id']}", json={"data": data}, headers=headers
            ),
        )
    current = await world.client.get(f"{API}/medical-records/{record['id']}", headers=world.vet)
    assert current.json()["version"] == record["version"]


# --------------------------------------------------------------------------- 3. NUL


async def test_a_nul_in_a_string_value_is_422(world: World) -> None:
    body = await world.refused(422, world.create_record(world.record(title="Check\x00up")))
    [error] = body["errors"]
    assert error["type"] == "string_nul_character"
    assert "title" in error["msg"]


async def test_a_nul_in_a_key_is_422(world: World) -> None:
    body = await world.refused(
        422, world.create_record(world.record(data={"batch": {"lot\x00": "A1"}}))
    )
    [error] = body["errors"]
    assert error["type"] == "string_nul_character"
    assert "data.batch.lot\\u0000" in error["msg"]
    assert "key" in error["msg"]


async def test_a_nul_deep_in_a_list_is_422(world: World) -> None:
    body = await world.refused(
        422, world.create_record(world.record(data={"doses": ["1 ml", "2\x00ml"]}))
    )
    assert "data.doses[1]" in body["errors"][0]["msg"]


async def test_an_unpaired_surrogate_is_422(world: World) -> None:
    raw = json.dumps(world.record()).replace('"Bounded input check"', '"Bad \\ud800 text"')
    body = await world.refused(422, world.create_record(raw.encode()))
    assert body["errors"][0]["type"] == "string_unpaired_surrogate"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/pets", {"q": "Rex\x00"}),  # the fast path's search
        ("/pets", {"species\x00": "dog"}),  # in a name
        ("/pet-owners", {"q": "\x00"}),
        ("/audit-events", {"action": "pet.read\x00"}),
    ],
)
async def test_a_nul_in_a_query_parameter_is_422(
    world: World, path: str, params: dict[str, str]
) -> None:
    who = ADMIN if path == "/audit-events" else RIVERSIDE_VET
    body = await world.refused(
        422, world.client.get(f"{API}{path}", params=params, headers=world.headers[who])
    )
    [error] = body["errors"]
    assert error["loc"][0] == "query"
    assert error["loc"][1] == next(iter(params)).replace("\x00", "\\u0000")
    assert error["type"] == "string_nul_character"


async def test_a_nul_in_the_path_is_422(world: World) -> None:
    body = await world.refused(
        422, world.client.get(f"{API}/kb/documents/abc%00def", headers=world.vet)
    )
    assert body["errors"][0]["loc"] == ["path"]


async def test_plain_queries_are_untouched(world: World) -> None:
    """A literal "%00" typed by the user arrives as %2500 and is a search like any other."""
    response = await world.client.get(
        f"{API}/pets", params={"q": "%00", "species": "dog"}, headers=world.vet
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


# --------------------------------------------------------------------------- 4. NaN, Infinity


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_are_422(world: World, token: str) -> None:
    raw = json.dumps(world.record(data={"dose_ml": "TOKEN"})).replace('"TOKEN"', token)
    body = await world.refused(422, world.create_record(raw.encode()))
    [error] = body["errors"]
    assert error["type"] == "number_not_finite"
    assert "data.dose_ml" in error["msg"]


@pytest.mark.parametrize("token", ["NaN", "Infinity"])
async def test_non_finite_numbers_in_number_fields_are_422(world: World, token: str) -> None:
    raw = json.dumps(world.record(weight_kg="TOKEN")).replace('"TOKEN"', token)
    await world.refused(422, world.create_record(raw.encode()))
    raw = json.dumps(world.record(weight_kg=token))  # the string "NaN" for a decimal
    await world.refused(422, world.create_record(raw.encode()))


# --------------------------------------------------------------------------- 5. dates


@pytest.mark.parametrize("day", ["1899-12-31", "2201-01-01", "0001-01-01", "9999-12-31"])
async def test_a_body_date_outside_1900_2200_is_422(world: World, day: str) -> None:
    owner = await world.client.post(
        f"{API}/pet-owners", json={"full_name": f"Dated {next(_names)}"}, headers=world.vet
    )
    pet = {"owner_id": owner.json()["id"], "name": "Old", "species": "cat", "date_of_birth": day}
    body = await world.refused(422, world.client.post(f"{API}/pets", json=pet, headers=world.vet))
    [error] = body["errors"]
    assert error["loc"] == ["body", "date_of_birth"]
    assert error["type"] == "date_out_of_range"
    follow_up = world.record(follow_up_required=True, follow_up_date=day)
    body = await world.refused(422, world.create_record(follow_up))
    assert body["errors"][0]["loc"] == ["body", "follow_up_date"]


async def test_the_edges_of_the_range_are_accepted(world: World) -> None:
    owner = await world.client.post(
        f"{API}/pet-owners", json={"full_name": "Edge Client"}, headers=world.vet
    )
    pet = {"owner_id": owner.json()["id"], "name": "Ancient", "species": "tortoise"}
    born = await world.client.post(
        f"{API}/pets", json={**pet, "date_of_birth": "1900-01-01"}, headers=world.vet
    )
    assert born.status_code == 201, born.text
    later = await world.create_record(
        world.record(follow_up_required=True, follow_up_date="2200-12-31")
    )
    assert later.status_code == 201, later.text
    listed = await world.client.get(
        f"{API}/pets/{world.pet_id}/medical-records",
        params={"from": "1900-01-01", "to": "2200-12-31"},
        headers=world.vet,
    )
    assert listed.status_code == 200, listed.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/pets/{pet}/medical-records", {"from": "1899-12-31"}),
        ("/pets/{pet}/medical-records", {"to": "2201-01-01"}),
        ("/medical-records/{record}", {"as_of": "1899-12-31T23:59:59Z"}),
        ("/practices/{practice}/appointments", {"from": "2201-01-01T00:00:00Z"}),
        ("/practices/{practice}/appointments", {"date": "1899-12-31"}),
        ("/practices/{practice}/follow-ups", {"due_before": "2201-01-01"}),
    ],
)
async def test_a_query_date_outside_1900_2200_is_422(
    world: World, path: str, params: dict[str, str]
) -> None:
    created = await world.create_record(world.record())
    practice = world.users[RIVERSIDE_VET].practice_id
    url = path.format(pet=world.pet_id, record=created.json()["id"], practice=practice)
    body = await world.refused(
        422, world.client.get(f"{API}{url}", params=params, headers=world.vet)
    )
    [error] = body["errors"]
    assert error["loc"] == ["query", next(iter(params))]
    assert error["type"] == "date_out_of_range"


async def test_a_visit_time_outside_the_range_is_422(world: World) -> None:
    for when in ("1899-12-31T23:59:59+00:00", "2201-01-01T00:00:00+00:00"):
        body = await world.refused(
            422,
            world.client.post(
                f"{API}/pets/{world.pet_id}/visits", json={"visit_date": when}, headers=world.vet
            ),
        )
        assert body["errors"][0]["loc"] == ["body", "visit_date"]


# --------------------------------------------------------------------------- 6. charsets


@pytest.mark.parametrize("charset", ["utf-7", "rot13", "hex", "unicode_escape", "no-such"])
async def test_a_form_charset_that_is_not_a_text_encoding_is_415(
    world: World, charset: str
) -> None:
    created = await world.create_record(world.record())
    body, content_type = multipart(
        [("description", None, b"+ADw-script+AD4-", None), ("file", "a.pdf", PDF, None)]
    )
    refused = await world.refused(
        415,
        world.client.post(
            f"{API}/medical-records/{created.json()['id']}/attachments",
            content=body,
            headers={**world.vet, "Content-Type": f"{content_type}; charset={charset}"},
        ),
    )
    assert refused["type"].endswith("/unsupported-charset")
    assert refused["charset"] == charset


@pytest.mark.parametrize("charset", ["utf-7", "hex", "rot13", "x-unknown"])
async def test_a_part_charset_that_is_not_a_text_encoding_is_415(
    world: World, charset: str
) -> None:
    created = await world.create_record(world.record())
    body, content_type = multipart(
        [
            ("description", None, b"+ADw-script+AD4-", f"text/plain; charset={charset}"),
            ("file", "a.pdf", PDF, "application/pdf"),
        ]
    )
    refused = await world.refused(
        415,
        world.client.post(
            f"{API}/medical-records/{created.json()['id']}/attachments",
            content=body,
            headers={**world.vet, "Content-Type": content_type},
        ),
    )
    assert refused["type"].endswith("/unsupported-charset")


@pytest.mark.parametrize("charset", ["latin1", "windows-1252", "utf-16-le", "utf-8"])
async def test_a_part_in_a_real_charset_is_decoded_with_it(world: World, charset: str) -> None:
    created = await world.create_record(world.record())
    body, content_type = multipart(
        [
            ("description", None, "Röntgen".encode(charset), f"text/plain; charset={charset}"),
            ("file", "a.pdf", PDF, "application/pdf"),
        ]
    )
    response = await world.client.post(
        f"{API}/medical-records/{created.json()['id']}/attachments",
        content=body,
        headers={**world.vet, "Content-Type": content_type},
    )
    assert response.status_code == 201, response.text
    async with world.container.engine.connect() as conn:
        description = await conn.scalar(
            select(record_attachments.c.description).where(
                record_attachments.c.id == UUID(response.json()["id"])
            )
        )
    assert description == "Röntgen"


async def test_a_nul_in_a_form_field_is_422(world: World) -> None:
    created = await world.create_record(world.record())
    body, content_type = multipart(
        [("description", None, b"x\x00y", None), ("file", "a.pdf", PDF, None)]
    )
    refused = await world.refused(
        422,
        world.client.post(
            f"{API}/medical-records/{created.json()['id']}/attachments",
            content=body,
            headers={**world.vet, "Content-Type": content_type},
        ),
    )
    assert refused["rule"] == "form.nul_character"


async def test_the_sign_in_form_refuses_utf7_too(world: World) -> None:
    """Starlette's own form parser would decode this +AAA- into a NUL."""
    await world.refused(
        415,
        world.client.post(
            f"{API}/auth/token",
            content=b"username=vet%40riverside.vetchart.local+AAA-&password=x",
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-7"},
        ),
    )


# --------------------------------------------------------------------------- 7. data errors


async def test_a_value_postgresql_refuses_is_422_and_changes_nothing(world: World) -> None:
    """The sign-in form is not JSON: its NUL reaches PostgreSQL (22021), which refuses it;
    the answer is a 422, no login attempt is counted and nothing is audited."""
    body = await world.refused(
        422,
        world.client.post(
            f"{API}/auth/token", data={"username": "vet\x00@riverside.test", "password": "x"}
        ),
    )
    assert body["rule"] == UNSTORABLE_VALUE_RULE
    assert "SELECT" not in json.dumps(body)


# Each raises a data exception (SQLSTATE class 22) on PostgreSQL, or gives a value asyncpg
# cannot encode for its parameter.
DATA_ERRORS: dict[str, tuple[str, tuple[object, ...]]] = {
    "invalid text representation (22P02)": ("SELECT CAST($1 AS integer)", ("12a",)),
    "numeric out of range (22003)": ("SELECT CAST($1 AS integer) * 1000000", ("1000000",)),
    "string too long (22001)": ("INSERT INTO short_text VALUES ($1)", ("long",)),
    "datetime field overflow (22008)": ("SELECT make_date(CAST($1 AS integer), 13, 1)", ("1",)),
    "NUL in text (22021)": ("SELECT CAST($1 AS text)", ("a\x00b",)),
    "division by zero (22012)": ("SELECT 1 / CAST($1 AS integer)", ("0",)),
    "out of int32 range (asyncpg, client side)": ("SELECT CAST($1 AS integer)", (3_000_000_000,)),
}
SHORT_TEXT = "CREATE TEMP TABLE IF NOT EXISTS short_text (v varchar(2))"
DRIVER_ERRORS = (sa_exc.DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError)


@pytest.mark.parametrize("case", list(DATA_ERRORS))
async def test_data_errors_of_both_database_paths_are_422(world: World, case: str) -> None:
    """Real statements on the real server, through the SQLAlchemy engine (the unit of
    work) and through the fast path's plain asyncpg pool: each is translated to the 422
    rule, by SQLSTATE class."""
    sql, args = DATA_ERRORS[case]
    named = sql
    for n in range(len(args)):
        named = named.replace(f"${n + 1}", f":p{n}")
    async with world.container.engine.connect() as conn:
        await conn.execute(text(SHORT_TEXT))
        with pytest.raises(DRIVER_ERRORS) as via_engine:
            await conn.execute(text(named), {f"p{n}": value for n, value in enumerate(args)})
    async with world.container.fast_pool.transaction() as tx:
        await tx.execute(SHORT_TEXT)
        with pytest.raises(DRIVER_ERRORS) as via_fast_path:
            await tx.fetch(sql, *args)
    for error in (via_engine.value, via_fast_path.value):
        assert not is_transient_connection_error(error)  # never retried as a lost connection
        translated = translate_database_error(error)
        assert isinstance(translated, RuleViolation), (case, type(error), error)
        assert translated.rule == UNSTORABLE_VALUE_RULE
        assert status_for(translated) == 422
