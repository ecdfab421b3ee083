"""The fast read path (api/presenters/, adapters/db/pg.py, adapters/db/audited_reads.py):
hot GET endpoints answer straight from asyncpg rows serialised with orjson. The response
schemas stay the contract, so every answer here is compared with what the schema renders
for the same object through the older pydantic builders (the ones write responses use):

- records (current version, list item) equal ``record_out(view)``, history items equal
  ``history_out(entry)``, a pet equals ``pet_with_owner(view)``, an appointment equals
  ``appointment_out(view)`` — same JSON values, same field order — and validate;
- the history is paginated (limit, signed cursors bound to the record), each page audited;
- fail closed: a read whose audit row cannot be written sends no data;
- the fast pool commits read audit rows without waiting for the WAL flush unless
  ``VETCHART_AUDIT_READS_DURABLE``;
- statement counts do not grow with the data;
- a lost connection is retried (a plain read) and an unreachable database is a 503.

One world for the module (the demo data on its own database, rate limits off); every test
makes its own clients and pets. The connection-loss tests run a second app on the same
database behind a small TCP proxy (``DatabaseProxy``) that can drop connections at the
moment they are next used, or refuse new ones.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import text

from tests.api.auth_helpers import (
    ADMIN,
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    audit_rows,
    cheap_auth,
    login_ok,
    new_client,
)
from tests.api.sql_counter import count_statements, counted_request
from tests.conftest import make_settings
from tests.db_proxy import DatabaseProxy
from tests.fixtures.world import World as BaseWorld
from tests.fixtures.world import open_world
from vetchart.adapters.db.engine import libpq_url
from vetchart.adapters.db.records import SqlRecordQueries
from vetchart.adapters.observability.logging import configure_logging
from vetchart.api.app import create_app
from vetchart.api.pagination import CursorCodec
from vetchart.api.presenters import appointment_out, history_out, pet_with_owner, record_out
from vetchart.api.schemas.clients import PetWithOwnerOut
from vetchart.api.schemas.records import HistoryEntryOut, RecordOut
from vetchart.api.schemas.schedule import AppointmentOut
from vetchart.config import AuditSettings, RateLimitSettings
from vetchart.domain.policy import ClientScope

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"
# The members of a problem document (RFC 9457 and ours); nothing else may be in a 5xx.
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance", "request_id"}
SIGNED_IN = (ADMIN, RIVERSIDE_VET, RIVERSIDE_TECH, HILLCREST_VET, OWNER)
EVERYTHING = ClientScope(everything=True)
_names = itertools.count(1)
# Each test that books appointments uses its own days (the vet's calendar is shared).
_days = itertools.count(30)

# Structured data with nesting, unicode, escapes and numbers of every JSON kind.
RICH_DATA: dict[str, Any] = {
    "vaccine_name": "Nobivac® DHPPi — Hündin 🐕",
    "batch": "A1234",
    "schedule": {
        "next_doses": [{"in_days": 21, "dose_ml": 1.5}, {"in_days": 365, "dose_ml": 1}],
        "booster": True,
        "reaction": None,
    },
    "quote": 'He said "sit" \\ then\tstayed\nput',
    "big": 12345678901234567890,
    "small": 1e-07,
    "tags": ["ça", "日本語", ""],
}
AMENDED_DATA: dict[str, Any] = {
    **RICH_DATA,
    "schedule": {**RICH_DATA["schedule"], "reaction": {"kind": "mild swelling", "hours": 6}},
}


# --------------------------------------------------------------------------- the world


@dataclass
class World(BaseWorld):
    async def send(
        self,
        method: str,
        url: str,
        who: str,
        *,
        if_match: str | None = None,
        **kwargs: Any,
    ) -> Response:
        headers = dict(self.headers[who])
        if if_match is not None:
            headers["If-Match"] = if_match
        return await self.client.request(method, API + url, headers=headers, **kwargs)

    async def get(self, url: str, who: str = RIVERSIDE_VET, **params: Any) -> Response:
        """A GET with these query parameters (those that are None left out)."""
        given = {name: value for name, value in params.items() if value is not None}
        return await self.send("GET", url, who, params=given)

    async def ok(self, method: str, url: str, who: str = RIVERSIDE_VET, **kwargs: Any) -> Any:
        response = await self.send(method, url, who, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def new_owner(self, who: str = RIVERSIDE_VET, **fields: Any) -> str:
        """A new client of the caller's practice (only)."""
        body = {"full_name": f"Client {next(_names)}", **fields}
        return str((await self.ok("POST", "/pet-owners", who, json=body))["id"])

    async def new_pet(self, owner_id: str, who: str = RIVERSIDE_VET, **fields: Any) -> str:
        body = {
            "owner_id": owner_id,
            "name": f"Pet {next(_names)}",
            "species": "dog",
            "date_of_birth": "2020-01-01",
            **fields,
        }
        return str((await self.ok("POST", "/pets", who, json=body))["id"])

    async def new_record(self, pet_id: str, who: str = RIVERSIDE_VET, **fields: Any) -> str:
        body = {
            "record_type": "checkup",
            "title": f"Check-up {next(_names)}",
            "visit_date": (self.today() - timedelta(days=2)).isoformat(),
            **fields,
        }
        created = await self.ok("POST", f"/pets/{pet_id}/medical-records", who, json=body)
        return str(created["id"])

    async def amend(self, record_id: str, version: int, **changes: Any) -> None:
        await self.ok(
            "PATCH", f"/medical-records/{record_id}", json=changes, if_match=f'"{version}"'
        )

    # --- what the schemas render for the same objects (the pydantic builders)

    async def expected_record(self, record_id: str) -> dict[str, Any]:
        async with self.container.uow() as uow:
            record = await uow.records.get(UUID(record_id), EVERYTHING)
        assert record is not None
        return record_out(self.container.records.view(record)).model_dump(mode="json")

    async def expected_history(self, record_id: str, version: int) -> dict[str, Any]:
        queries = SqlRecordQueries(self.container.read_engine, read_retries=0)
        entry = await queries.version(UUID(record_id), version)
        assert entry is not None
        return history_out(entry).model_dump(mode="json")

    async def expected_pet(self, pet_id: str) -> dict[str, Any]:
        view = await self.container.client_queries.pet_detail(EVERYTHING, UUID(pet_id))
        assert view is not None
        return pet_with_owner(view).model_dump(mode="json")

    async def expected_appointment(self, appointment_id: str) -> dict[str, Any]:
        view = await self.container.schedule_queries.appointment_view(UUID(appointment_id))
        assert view is not None
        return appointment_out(view).model_dump(mode="json")

    # --- the audit log

    async def history_reads(self, record_id: str) -> list[dict[str, Any]]:
        """The ``medical_record.read`` audit rows of the record's history views."""
        return [
            row
            for row in await audit_rows(self.app, "medical_record.read")
            if row["resource_id"] == record_id and row["details"].get("view") == "history"
        ]

    async def pet_audit_rows(self, pet_id: str) -> list[dict[str, Any]]:
        """The audit rows of the pet's medical records (writes and reads)."""
        return [
            row
            for row in await audit_rows(self.app)
            if str(row["pet_id"]) == pet_id and row["action"].startswith("medical_record.")
        ]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(pg_server_url: str, template_database: str) -> AsyncIterator[World]:
    # As `vetchart serve` does (and tests/api/test_uploads.py): plain tracebacks. structlog's
    # default prints every local of every frame (the rows read included) and takes ~10 s
    # per logged 500.
    configure_logging(level="WARNING", json=False)
    async with open_world(
        pg_server_url, template_database, "fast", World, rate_limit=RateLimitSettings(enabled=False)
    ) as world:
        await world.seed_demo()
        await world.sign_in(*SIGNED_IN)
        yield world


async def as_database_owner(url: str, *statements: str) -> list[Any]:
    """Statements on a connection of the login role (the database owner, not the app's
    least-privilege role); the last one's rows."""
    conn = await asyncpg.connect(libpq_url(url))
    try:
        rows: list[Any] = []
        for statement in statements:
            rows = await conn.fetch(statement)
        return rows
    finally:
        await conn.close()


def same_as_schema(body: dict[str, Any], expected: dict[str, Any]) -> None:
    """The same JSON values as the schema's rendering, members in the schema's order."""
    assert body == expected
    assert list(body) == list(expected)


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- 1. the schema


async def test_records_read_exactly_as_their_schema_renders_them(world: World) -> None:
    owner = await world.new_owner()
    pet = await world.new_pet(owner)
    today = world.today()
    # Every field set: decimals, structured data, a follow-up; signed by a VET, then
    # amended after finalisation (version 3, a late amendment).
    full = await world.new_record(
        pet,
        RIVERSIDE_TECH,
        record_type="vaccination",
        title="Vaccination — Nobivac® booster",
        description="Annual booster; owner reports «no issues».",
        diagnosis="Healthy",
        treatment="DHPPi booster",
        medications="None",
        weight_kg="12.5",
        temperature_c="38.5",
        cost="45.10",
        follow_up_required=True,
        follow_up_date=(today + timedelta(days=12)).isoformat(),
        data=RICH_DATA,
        visit_date=(today - timedelta(days=3)).isoformat(),
    )
    await world.ok("POST", f"/medical-records/{full}/sign", if_match='"1"')
    await world.amend(
        full, 2, diagnosis="Healthy — mild swelling", data=AMENDED_DATA, amendment_reason="Lab"
    )
    # Every optional field empty, not finalised yet.
    bare = await world.new_record(pet, visit_date=(today - timedelta(days=1)).isoformat())
    # Entered in error: a reason, and out of the default list.
    wrong = await world.new_record(pet, visit_date=(today - timedelta(days=5)).isoformat())
    await world.ok(
        "POST",
        f"/medical-records/{wrong}/entered-in-error",
        json={"reason": "Wrong pet"},
        if_match='"1"',
    )

    expected = {rid: await world.expected_record(rid) for rid in (full, bare, wrong)}
    assert expected[full]["version"] == 3
    assert expected[full]["signed_at"] is not None
    assert expected[full]["signed_by"] == str(world.users[RIVERSIDE_VET].id)
    assert expected[full]["finalised_at"] == expected[full]["signed_at"]
    assert (expected[full]["weight_kg"], expected[full]["temperature_c"]) == ("12.500", "38.5")
    assert expected[full]["cost"] == "45.10"
    assert expected[full]["data"] == AMENDED_DATA
    assert expected[bare]["finalised_at"] is None
    assert expected[bare]["weight_kg"] is None
    assert expected[bare]["data"] == {}
    assert expected[wrong]["status"] == "entered_in_error"

    for rid in (full, bare, wrong):
        for who in (RIVERSIDE_VET, ADMIN):
            response = await world.get(f"/medical-records/{rid}", who)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("application/json")
            assert response.headers["etag"] == f'"{expected[rid]["version"]}"'
            same_as_schema(response.json(), expected[rid])
            RecordOut.model_validate(response.json())

    listed = await world.get(f"/pets/{pet}/medical-records")
    assert listed.status_code == 200, listed.text
    assert listed.json()["next_cursor"] is None
    items = listed.json()["items"]
    assert [item["id"] for item in items] == [bare, full]  # newest visit first
    for item in items:
        same_as_schema(item, expected[item["id"]])
        RecordOut.model_validate(item)

    everything = await world.get(f"/pets/{pet}/medical-records", include_entered_in_error="true")
    assert [item["id"] for item in everything.json()["items"]] == [bare, full, wrong]
    same_as_schema(everything.json()["items"][2], expected[wrong])

    # A page at a time: the same items, the cursor bound to the list.
    first = (await world.get(f"/pets/{pet}/medical-records", limit=1)).json()
    assert [item["id"] for item in first["items"]] == [bare]
    second = (
        await world.get(f"/pets/{pet}/medical-records", limit=1, cursor=first["next_cursor"])
    ).json()
    assert second["next_cursor"] is None
    same_as_schema(second["items"][0], expected[full])

    # A pet without records, or with none matching: an empty page, not a 404.
    empty_pet = await world.new_pet(owner)
    for url, params in (
        (f"/pets/{empty_pet}/medical-records", {}),
        (f"/pets/{pet}/medical-records", {"record_type": "surgery"}),
    ):
        response = await world.get(url, **params)
        assert response.status_code == 200, response.text
        assert response.json() == {"items": [], "next_cursor": None}


async def test_history_items_equal_the_schema_rendering_of_each_version(world: World) -> None:
    pet = await world.new_pet(await world.new_owner())
    record = await world.new_record(
        pet, RIVERSIDE_TECH, weight_kg="12.5", cost="45.10", data=RICH_DATA
    )
    await world.ok("POST", f"/medical-records/{record}/sign", if_match='"1"')
    await world.amend(record, 2, data=AMENDED_DATA, amendment_reason="Addendum — «lab»")

    response = await world.get(f"/medical-records/{record}/history")
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["items", "next_cursor"]
    assert body["next_cursor"] is None
    assert [item["version"] for item in body["items"]] == [1, 2, 3]
    assert [item["event_type"] for item in body["items"]] == ["created", "signed", "amended"]
    assert body["items"][2]["late"] is True
    for item in body["items"]:
        same_as_schema(item, await world.expected_history(record, item["version"]))
        HistoryEntryOut.model_validate(item)
    assert body["items"][2]["snapshot"]["data"] == AMENDED_DATA
    assert body["items"][0]["actor"]["id"] == str(world.users[RIVERSIDE_TECH].id)


async def test_a_pet_with_its_owner_reads_exactly_as_its_schema_renders_it(world: World) -> None:
    # The demo OWNER's own profile (linked to a user: user_id set), every field filled.
    mine = await world.get("/pets", OWNER, limit=1)
    owner_id = mine.json()["items"][0]["owner_id"]
    await world.ok(
        "PATCH",
        f"/pet-owners/{owner_id}",
        json={
            "phone": "+44 20 7946 0999",
            "address": "1 Rue de l'Église, Düsseldorf",
            "preferred_communication": "sms",
        },
    )
    pet = await world.new_pet(
        owner_id,
        name="Zoë 🐈",
        species="cat",
        breed="Maine Coon",
        sex="female",
        colour="tabby",
        date_of_birth="2019-05-17",
        weight_kg="6.25",
        microchip_id=f"98514100{next(_names):07d}",
        neutered=True,
        allergies="Penicillin",
        notes='Hisses at "the vacuum"\nlikes tuna',
    )
    expected = await world.expected_pet(pet)
    assert expected["weight_kg"] == "6.250"
    assert None not in expected.values()
    # Every owner field but erased_at (set by an erasure only: tests/api/test_owner_lifecycle.py).
    assert None not in {k: v for k, v in expected["owner"].items() if k != "erased_at"}.values()

    for who in (RIVERSIDE_VET, OWNER, ADMIN):
        response = await world.get(f"/pets/{pet}", who)
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'"{expected["version"]}"'
        same_as_schema(response.json(), expected)
        assert list(response.json()["owner"]) == list(expected["owner"])
        PetWithOwnerOut.model_validate(response.json())

    listed = await world.get("/pets", OWNER, owner_id=owner_id, limit=50)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert pet in [item["id"] for item in items]
    for item in items:
        same_as_schema(item, await world.expected_pet(item["id"]))
        PetWithOwnerOut.model_validate(item)


async def test_appointments_read_exactly_as_their_schema_renders_them(world: World) -> None:
    owner = await world.new_owner(
        email=f"appointments{next(_names)}@example.com", preferred_communication="email"
    )
    # Created in this order, so id order (uuid7), name order ("C": upper case first) and
    # dictionary order all differ; the two Milos tie on the name.
    names = ("bella", "Zed", "Abby", "Milo", "Milo")
    pets = {n: await world.new_pet(owner, name=name) for n, name in enumerate(names)}
    vet = str(world.users[RIVERSIDE_VET].id)
    day = world.today() + timedelta(days=next(_days))
    booked: list[str] = []
    for hour, group in ((9, (1, 2)), (10, (0, 1, 2)), (11, (3, 4))):
        body = {
            "pet_owner_id": owner,
            "pet_ids": [pets[n] for n in group],
            "assigned_vet_id": vet,
            "start_at": datetime.combine(day, time(hour), UTC).isoformat(),
            "duration_minutes": 30,
            "appointment_type": "checkup",
            "title": "Check-up — «annual»",
            "notes": "Bring the vaccination card",
        }
        created = await world.ok(
            "POST", f"/practices/{world.riverside}/appointments", RIVERSIDE_TECH, json=body
        )
        booked.append(str(created["id"]))

    expected = {aid: await world.expected_appointment(aid) for aid in booked}
    two = expected[booked[0]]
    assert [p["name"] for p in two["pets"]] == ["Abby", "Zed"]
    assert two["pet_ids"] == sorted(two["pet_ids"])
    assert two["pet_ids"] != [p["id"] for p in two["pets"]]  # the two orders differ
    assert [p["name"] for p in expected[booked[1]]["pets"]] == ["Abby", "Zed", "bella"]

    practice_day = await world.get(
        f"/practices/{world.riverside}/appointments", RIVERSIDE_TECH, date=day.isoformat()
    )
    assert practice_day.status_code == 200, practice_day.text
    owners_list = await world.get(f"/pet-owners/{owner}/appointments", RIVERSIDE_TECH)
    assert owners_list.status_code == 200, owners_list.text
    for response in (practice_day, owners_list):
        items = response.json()["items"]
        assert [item["id"] for item in items] == booked
        for item in items:
            same_as_schema(item, expected[item["id"]])
            assert list(item["owner"]) == ["id", "full_name"]
            assert all(list(p) == ["id", "name", "species"] for p in item["pets"])
            AppointmentOut.model_validate(item)


# --------------------------------------------------------------------------- 2. history pages


async def test_history_pages_chain_in_version_order_with_one_audit_row_each(
    world: World,
) -> None:
    pet = await world.new_pet(await world.new_owner())
    record = await world.new_record(pet)
    for version in range(1, 7):
        await world.amend(record, version, title=f"Check-up, take {version + 1}")

    seen: list[int] = []
    cursor: str | None = None
    reads_before = len(await world.history_reads(record))
    pages = ([1, 2, 3], [4, 5, 6], [7])
    for number, expected_versions in enumerate(pages, 1):
        response = await world.get(f"/medical-records/{record}/history", limit=3, cursor=cursor)
        assert response.status_code == 200, response.text
        page = response.json()
        assert [item["version"] for item in page["items"]] == expected_versions
        for item in page["items"]:
            same_as_schema(item, await world.expected_history(record, item["version"]))
        seen += expected_versions
        cursor = page["next_cursor"]
        if number < len(pages):
            assert isinstance(cursor, str)
        # One audit row per page, naming the record, its pet and practice, view=history:
        # the reader's practice, and the record's in the details.
        reads = await world.history_reads(record)
        assert len(reads) == reads_before + number
        last = reads[-1]
        assert last["actor_id"] == world.users[RIVERSIDE_VET].id
        assert str(last["pet_id"]) == pet
        assert last["practice_id"] == world.riverside
        assert last["details"] == {"view": "history", "data_practice_id": str(world.riverside)}
        assert last["outcome"] == "success"
        assert last["resource_type"] == "medical_record"
    assert cursor is None
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert len(await world.history_reads(record)) == reads_before + 3

    # Page sizes at the edges: exactly all versions, and the default.
    for params in ({"limit": 7}, {}, {"limit": 200}):
        page = (await world.get(f"/medical-records/{record}/history", **params)).json()
        assert [item["version"] for item in page["items"]] == seen
        assert page["next_cursor"] is None
    one = (await world.get(f"/medical-records/{record}/history", limit=6)).json()
    assert len(one["items"]) == 6
    last_page = await world.get(
        f"/medical-records/{record}/history", limit=6, cursor=one["next_cursor"]
    )
    assert [item["version"] for item in last_page.json()["items"]] == [7]
    # A (validly signed) position after the last version: an empty page.
    past = world.app.state.cursor_codec.encode("record-history", {"record_id": UUID(record)}, [7])
    beyond = await world.get(f"/medical-records/{record}/history", cursor=past)
    assert beyond.status_code == 200, beyond.text
    assert beyond.json() == {"items": [], "next_cursor": None}

    # The chains of the audit log still verify with all these read rows on them.
    report = await world.container.verify_audit()
    assert report.ok, report.broken


async def test_history_refuses_foreign_and_forged_cursors_and_bad_limits(world: World) -> None:
    pet = await world.new_pet(await world.new_owner())
    record = await world.new_record(pet)
    other = await world.new_record(pet)
    for rid in (record, other):
        await world.amend(rid, 1, title="Amended once")
    url = f"/medical-records/{record}/history"
    mine = (await world.get(url, limit=1)).json()["next_cursor"]
    foreign = (await world.get(f"/medical-records/{other}/history", limit=1)).json()["next_cursor"]
    # A cursor of another list (the pet's records) and one signed with another secret.
    records_cursor = (await world.get(f"/pets/{pet}/medical-records", limit=1)).json()[
        "next_cursor"
    ]
    forged = CursorCodec(b"not-the-secret").encode("record-history", {"record_id": record}, [1])
    tampered = mine[:-2] + ("AA" if not mine.endswith("AA") else "BB")
    assert isinstance(mine, str)
    assert isinstance(foreign, str)
    assert isinstance(records_cursor, str)

    reads_before = len(await world.history_reads(record))
    for cursor in (foreign, records_cursor, forged, tampered, "not-a-cursor", "a.b"):
        assert_problem(await world.get(url, cursor=cursor), 400)
    for limit in (0, 201, -1):
        assert_problem(await world.get(url, limit=limit), 422)
    assert len(await world.history_reads(record)) == reads_before  # nothing was read

    page = await world.get(url, limit=1, cursor=mine)
    assert page.status_code == 200, page.text
    assert [item["version"] for item in page.json()["items"]] == [2]


async def test_history_outside_the_scope_is_404_on_every_page(world: World) -> None:
    pet = await world.new_pet(await world.new_owner())  # a client of Riverside only
    record = await world.new_record(pet)
    for version in range(1, 5):
        await world.amend(record, version, title=f"Take {version + 1}")
    url = f"/medical-records/{record}/history"
    cursors: list[str | None] = [None]
    while True:
        page = (await world.get(url, limit=2, cursor=cursors[-1])).json()
        if page["next_cursor"] is None:
            break
        cursors.append(page["next_cursor"])
    assert len(cursors) == 3

    reads_before = len(await world.history_reads(record))
    for who in (HILLCREST_VET, OWNER):
        for cursor in cursors:
            response = await world.get(url, who, limit=2, cursor=cursor)
            problem = assert_problem(response, 404)
            assert "snapshot" not in response.text, problem
            assert "Take" not in response.text
    reads = await world.history_reads(record)
    assert len(reads) == reads_before  # no successful read on record


# --------------------------------------------------------------------------- 3. fail closed


async def test_a_read_whose_audit_row_cannot_be_written_sends_no_data(world: World) -> None:
    pet = await world.new_pet(await world.new_owner())
    secret = f"Confidential-{next(_names)}"
    record = await world.new_record(pet, title=secret, diagnosis=secret, data={"note": secret})
    await world.amend(record, 1, treatment=secret)
    urls = (
        f"/pets/{pet}/medical-records",
        f"/medical-records/{record}",
        f"/medical-records/{record}/history",
    )
    before = await world.pet_audit_rows(pet)
    # As the database owner: the audit_events insert of any row naming this pet fails.
    await as_database_owner(
        world.url,
        "CREATE FUNCTION fast_reads_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_events refused by the test'; END $$",
        "CREATE TRIGGER fast_reads_refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW "
        f"WHEN (NEW.pet_id = '{pet}'::uuid) EXECUTE FUNCTION fast_reads_refuse_audit()",
    )
    try:
        for url in urls:
            for who in (RIVERSIDE_VET, ADMIN):
                response = await world.get(url, who)
                assert 500 <= response.status_code < 600, (url, response.status_code)
                assert response.headers["content-type"].startswith("application/problem+json")
                assert secret not in response.text, (url, response.text)
                problem = response.json()
                assert set(problem) <= PROBLEM_MEMBERS, problem
                problem.pop("instance")  # the request's own path
                assert record not in json.dumps(problem), (url, problem)
    finally:
        await as_database_owner(
            world.url,
            "DROP TRIGGER fast_reads_refuse_audit ON audit_events",
            "DROP FUNCTION fast_reads_refuse_audit()",
        )
    # Nothing was written (the audit rows and the chain heads moved together, or not).
    assert await world.pet_audit_rows(pet) == before
    report = await world.container.verify_audit()
    assert report.ok, report.broken

    for url in urls:
        response = await world.get(url)
        assert response.status_code == 200, (url, response.text)
        assert secret in response.text
    assert len(await world.pet_audit_rows(pet)) == len(before) + len(urls)


async def test_concurrent_audited_reads_keep_every_audit_chain_valid(world: World) -> None:
    pet = await world.new_pet(await world.new_owner())
    record = await world.new_record(pet)
    urls = [
        f"/pets/{pet}/medical-records",
        f"/medical-records/{record}",
        f"/medical-records/{record}/history",
    ] * 8
    responses = await asyncio.gather(*(world.get(url) for url in urls))
    assert [r.status_code for r in responses] == [200] * len(urls)
    assert len(await world.pet_audit_rows(pet)) == 1 + len(urls)  # the create, the reads
    report = await world.container.verify_audit()
    assert report.ok, report.broken


# --------------------------------------------------------------------------- 4. durability


async def _synchronous_commit(app: FastAPI) -> tuple[str, str]:
    """``synchronous_commit`` on the fast pool and on the unit of work's engine."""
    container = app.state.container
    fast = await container.fast_pool.fetch("SHOW synchronous_commit")
    async with container.engine.connect() as conn:
        engine = await conn.scalar(text("SHOW synchronous_commit"))
    return str(fast[0]["synchronous_commit"]), str(engine)


async def test_read_audit_commits_do_not_wait_for_the_wal_flush_by_default(
    world: World,
) -> None:
    assert world.app.state.container.settings.audit.reads_durable is False
    assert await _synchronous_commit(world.app) == ("off", "on")


@asynccontextmanager
async def another_app(url: str, **overrides: Any) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    settings = make_settings(url, rate_limit=RateLimitSettings(enabled=False), **overrides)
    application = create_app(settings, database_url=url)
    async with LifespanManager(application), new_client(application) as http:
        yield application, http


async def test_reads_durable_makes_read_audit_commits_wait_for_the_flush(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    pet = await world.new_pet(await world.new_owner())
    async with another_app(world.url, audit=AuditSettings(reads_durable=True)) as (app, http):
        assert await _synchronous_commit(app) == ("on", "on")
        # The audited reads work on that pool too.
        headers = (await login_ok(http, RIVERSIDE_VET)).headers
        listed = await http.get(f"{API}/pets/{pet}/medical-records", headers=headers)
        assert listed.status_code == 200, listed.text

    # The environment variable of the setting.
    monkeypatch.setenv("VETCHART_AUDIT_READS_DURABLE", "true")
    async with another_app(world.url) as (app, _):
        assert app.state.container.settings.audit.reads_durable is True
        assert await _synchronous_commit(app) == ("on", "on")


# --------------------------------------------------------------------------- 5. statements


async def test_pet_reads_are_one_audited_read_whatever_the_number_of_pets(world: World) -> None:
    """Two statements (the scope check, chain head lock and page; the audit row) in one
    transaction on the fast pool, for 1 pet or 50."""
    few = await world.new_owner()
    few_pet = await world.new_pet(few)
    many = await world.new_owner()
    many_pets = [await world.new_pet(many, name=f"Pack {n:02d}") for n in range(55)]

    for label, url, rows in (
        ("list, one pet", f"/pets?limit=50&owner_id={few}", 1),
        ("list, 55 pets", f"/pets?limit=50&owner_id={many}", 50),
        ("list, all in scope", "/pets?limit=50", 50),
        ("one pet of one", f"/pets/{few_pet}", None),
        ("one pet of 55", f"/pets/{many_pets[-1]}", None),
    ):
        warm = await world.send("GET", url, RIVERSIDE_VET)  # the principal cache, warm
        assert warm.status_code == 200, warm.text
        response, counter = await counted_request(
            world.app, world.client, "GET", API + url, headers=world.headers[RIVERSIDE_VET]
        )
        assert response.status_code == 200, response.text
        assert counter.count == 2, f"{label}: {counter.report()}"
        assert "FROM pets p JOIN pet_owners o" in counter.statements[0], counter.report()
        assert counter.statements[1].startswith("INSERT INTO audit_events"), counter.report()
        if rows is not None:
            assert len(response.json()["items"]) == rows, label


async def test_a_practice_day_is_three_statements_whatever_it_holds(world: World) -> None:
    """The practice (its timezone, a plain read), then the audited page (two)."""
    owner = await world.new_owner()
    pet = await world.new_pet(owner)
    vet = str(world.users[RIVERSIDE_VET].id)
    quiet, busy = (world.today() + timedelta(days=next(_days)) for _ in range(2))
    for day, count in ((quiet, 1), (busy, 16)):
        for n in range(count):
            body = {
                "pet_owner_id": owner,
                "pet_ids": [pet],
                "assigned_vet_id": vet,
                "start_at": (
                    datetime.combine(day, time(7), UTC) + timedelta(minutes=30 * n)
                ).isoformat(),
                "duration_minutes": 30,
                "title": f"Slot {n}",
            }
            await world.ok(
                "POST", f"/practices/{world.riverside}/appointments", RIVERSIDE_TECH, json=body
            )

    counts: list[int] = []
    for day, held in ((quiet, 1), (busy, 16)):
        url = f"{API}/practices/{world.riverside}/appointments?date={day.isoformat()}&limit=200"
        headers = world.headers[RIVERSIDE_TECH]
        warm = await world.client.get(url, headers=headers)
        assert warm.status_code == 200, warm.text
        response, counter = await counted_request(
            world.app, world.client, "GET", url, headers=headers
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == held
        assert counter.count == 3, counter.report()
        counts.append(counter.count)
    assert counts[0] == counts[1], counts


# --------------------------------------------------------------------------- 6. lost database


async def test_terminated_fast_pool_connections_are_replaced(world: World) -> None:
    pet = await world.new_pet(await world.new_owner())
    await world.new_record(pet)
    urls = (f"/pets/{pet}", f"/pets/{pet}/medical-records")
    first = [await world.get(url) for url in urls]
    assert [r.status_code for r in first] == [200, 200]

    terminated = await as_database_owner(
        world.url,
        "SELECT pg_terminate_backend(pid, 5000) AS done FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'vetchart-api-fast'",
    )
    assert terminated, "the fast pool had no open connection"
    assert all(row["done"] for row in terminated)
    await asyncio.sleep(0.05)

    again = [await world.get(url) for url in urls]
    assert [r.status_code for r in again] == [200, 200], [r.text for r in again]
    assert again[0].json() == first[0].json()
    assert again[1].json() == first[1].json()


@asynccontextmanager
async def behind_proxy(world: World) -> AsyncIterator[tuple[DatabaseProxy, FastAPI, AsyncClient]]:
    """A second app on the world's database, through a proxy; the principal cache kept for
    its longest period (the tests' requests then need only the fast pool)."""
    proxy = DatabaseProxy(world.url)
    url = await proxy.start()
    try:
        async with another_app(url, auth=cheap_auth(session_cache_seconds=2)) as (app, http):
            yield proxy, app, http
    finally:
        await proxy.stop()


async def test_a_connection_lost_when_used_is_retried_for_a_plain_read(world: World) -> None:
    pet = await world.new_pet(await world.new_owner())
    await world.new_record(pet, title="Lost connection check")
    async with behind_proxy(world) as (proxy, app, http):
        headers = (await login_ok(http, RIVERSIDE_VET)).headers
        # A practice's appointments start with a plain read of the practice (its timezone).
        url = f"{API}/practices/{world.riverside}/appointments"
        first = await http.get(url, headers=headers)
        assert first.status_code == 200, first.text

        assert proxy.poison() >= 1
        with count_statements(app) as counter:
            again = await http.get(url, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        assert proxy.dropped >= 1  # the pooled connection really was lost when used...
        # ...and the statement sent again, then the audited page (its read, its audit row).
        assert counter.count == 4, counter.report()
        assert counter.statements[0] == counter.statements[1], counter.report()
        assert "FROM practices" in counter.statements[0], counter.report()

        # An audited read on a connection lost before its commit was sent is retried on a
        # new connection: nothing was committed, so the retry writes the only audit row.
        reads_before = len(await world.pet_audit_rows(pet))
        dropped_before = proxy.dropped
        proxy.poison()
        listed = await http.get(f"{API}/pets/{pet}/medical-records", headers=headers)
        assert listed.status_code == 200, listed.text
        assert proxy.dropped > dropped_before
        assert len(await world.pet_audit_rows(pet)) == reads_before + 1
        # And the next one works.
        listed = await http.get(f"{API}/pets/{pet}/medical-records", headers=headers)
        assert listed.status_code == 200, listed.text


async def test_an_unreachable_database_answers_503(world: World) -> None:
    pet = await world.new_pet(await world.new_owner())
    await world.new_record(pet, title="Unreachable check")
    async with behind_proxy(world) as (proxy, _app, http):
        headers = (await login_ok(http, RIVERSIDE_VET)).headers
        urls = (f"{API}/pets/{pet}", f"{API}/pets/{pet}/medical-records")
        for url in urls:  # the principal cache and the pool, warm
            warm = await http.get(url, headers=headers)
            assert warm.status_code == 200, warm.text

        await proxy.stop()
        for url in urls:
            response = await http.get(url, headers=headers)
            assert_problem(response, 503)
            assert "Unreachable check" not in response.text
