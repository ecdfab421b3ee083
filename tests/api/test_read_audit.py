"""Issue 13 item 7: every successful read of pets, owners and appointments, single or a
list, leaves exactly one audit row, written in the read's own transaction and committed
before any data leaves (fail closed), like the medical-record reads.

The row's practice is always the READER's (None for PET_OWNER and SYSTEM_ADMIN); the
practice the data belongs to is in the details (``data_practice_id`` for one practice's
data, ``data_practice_ids`` for pets, owners and lists across practices). A list's row
names the ids it showed (not the extra row fetched to learn about a next page) and their
count, and an empty list leaves its row too. The existing audited reads (records,
history, timeline, visits, dashboard) follow the same practice rule.

One world for the module (the demo data on its own database, rate limits off): a client
of Riverside only, with three pets and two appointments, and the demo PET_OWNER (a
client of both practices) with an appointment at Riverside.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
import pytest_asyncio
from httpx import AsyncClient, Response
from sqlalchemy import select

from tests.api.audit_checks import audit_rows
from tests.api.auth_helpers import (
    ADMIN,
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
)
from tests.fixtures.world import World as BaseWorld
from tests.fixtures.world import open_world
from vetchart.adapters.db.engine import libpq_url
from vetchart.adapters.db.tables import practice_associations
from vetchart.adapters.observability.logging import configure_logging
from vetchart.api.schemas.clients import PetOwnerOut
from vetchart.config import RateLimitSettings
from vetchart.domain.policy import ClientScope

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"
SIGNED_IN = (ADMIN, RIVERSIDE_VET, RIVERSIDE_TECH, HILLCREST_VET, OWNER)
# The members of a problem document; nothing else may be in a 5xx.
PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance", "request_id"}
_names = itertools.count(1)


@dataclass
class World(BaseWorld):
    client_id: str = ""  # a client of Riverside only
    client_pets: list[str] = field(default_factory=list)  # its pets, in name order
    day: date = date.min  # the day of its appointments
    single_pet_visit: str = ""  # its appointment with one pet
    two_pet_visit: str = ""  # its appointment with two pets
    mine: str = ""  # the demo PET_OWNER's own profile
    my_pet: str = ""
    my_visit: str = ""  # an appointment of the demo PET_OWNER at Riverside

    async def get(self, url: str, who: str = RIVERSIDE_VET, **params: Any) -> Response:
        return await self.client.get(API + url, headers=self.headers[who], params=params)

    async def ok(self, url: str, who: str = RIVERSIDE_VET, **params: Any) -> Response:
        response = await self.get(url, who, **params)
        assert response.status_code == 200, response.text
        return response

    async def post(self, url: str, who: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(API + url, json=body, headers=self.headers[who])
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def care_practices(self, owner_id: str) -> list[str]:
        """The practices the owner is an approved client of, from the database."""
        query = select(practice_associations.c.practice_id).where(
            practice_associations.c.pet_owner_id == UUID(owner_id),
            practice_associations.c.status == "approved",
        )
        async with self.app.state.container.engine.connect() as conn:
            return sorted(str(row.practice_id) for row in await conn.execute(query))


async def book(
    app_world: tuple[AsyncClient, dict[str, dict[str, str]], UUID, UUID],
    owner: str,
    pets: list[str],
    start: datetime,
    title: str,
) -> str:
    client, headers, practice, vet = app_world
    body = {
        "pet_owner_id": owner,
        "pet_ids": pets,
        "assigned_vet_id": str(vet),
        "start_at": start.isoformat(),
        "duration_minutes": 30,
        "title": title,
    }
    response = await client.post(
        f"{API}/practices/{practice}/appointments", json=body, headers=headers[RIVERSIDE_TECH]
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(pg_server_url: str, template_database: str) -> AsyncIterator[World]:
    configure_logging(level="WARNING", json=False)  # plain tracebacks for the 5xx below
    async with open_world(
        pg_server_url,
        template_database,
        "readaudit",
        World,
        rate_limit=RateLimitSettings(enabled=False),
    ) as world:
        await world.seed_demo()
        await world.sign_in(*SIGNED_IN)
        client, headers = world.client, world.headers
        vet = world.users[RIVERSIDE_VET]
        assert vet.practice_id is not None
        world.client_id = str(
            (await world.create_owner(RIVERSIDE_VET, full_name="Audit Client Riverside"))["id"]
        )
        world.client_pets = [
            str(
                (await world.create_pet(RIVERSIDE_VET, world.client_id, name=name, species="cat"))[
                    "id"
                ]
            )
            for name in ("Audit Pet A", "Audit Pet B", "Audit Pet C")
        ]
        mine_page = await client.get(f"{API}/pet-owners", headers=headers[OWNER])
        world.mine = str(mine_page.json()["items"][0]["id"])
        my_pets = await client.get(f"{API}/pets", headers=headers[OWNER])
        world.my_pet = str(my_pets.json()["items"][0]["id"])

        world.day = datetime.now(UTC).date() + timedelta(days=40)
        booking = (client, headers, vet.practice_id, vet.id)
        at = datetime.combine(world.day, time(9), UTC)
        pets = world.client_pets
        world.single_pet_visit = await book(booking, world.client_id, pets[:1], at, "Audit one pet")
        world.two_pet_visit = await book(
            booking, world.client_id, pets[1:], at + timedelta(hours=1), "Audit two pets"
        )
        world.my_visit = await book(
            booking, world.mine, [world.my_pet], at + timedelta(hours=2), "Audit owner's visit"
        )
        yield world


async def the_row(world: World, response: Response) -> dict[str, Any]:
    """The one audit row the request left (found by its X-Request-ID)."""
    rows = await audit_rows(world.app, response.headers["x-request-id"])
    assert len(rows) == 1, rows
    return rows[0]


def read_by(row: dict[str, Any], world: World, who: str, action: str) -> None:
    """A success row of ``action`` by ``who``, in the reader's practice's log."""
    user = world.users[who]
    assert (row["action"], row["outcome"]) == (action, "success"), row
    assert (row["actor_id"], row["actor_role"]) == (user.id, user.role.value), row
    assert row["practice_id"] == user.practice_id, row


def ids_of(response: Response) -> list[str]:
    return [str(item["id"]) for item in response.json()["items"]]


def practices_of(response: Response) -> list[str]:
    return sorted({str(item["practice_id"]) for item in response.json()["items"]})


# --------------------------------------------------------------------------- pets


async def test_reading_a_pet_leaves_one_row_in_the_readers_practice(world: World) -> None:
    pet = world.client_pets[0]
    riverside = [str(world.riverside)]
    for who in (RIVERSIDE_VET, ADMIN):
        response = await world.ok(f"/pets/{pet}", who)
        row = await the_row(world, response)
        read_by(row, world, who, "pet.read")
        assert (row["resource_type"], row["resource_id"], str(row["pet_id"])) == ("pet", pet, pet)
        assert row["details"] == {"owner_id": world.client_id, "data_practice_ids": riverside}

    # The owner reading their own pet: no practice of theirs; the pet's practices named.
    response = await world.ok(f"/pets/{world.my_pet}", OWNER)
    row = await the_row(world, response)
    read_by(row, world, OWNER, "pet.read")
    assert row["practice_id"] is None
    cared = await world.care_practices(world.mine)
    assert len(cared) == 2  # the demo owner is a client of both practices
    assert row["details"] == {"owner_id": world.mine, "data_practice_ids": cared}

    # The Hillcrest vet reads the shared client's pet through Hillcrest: only Hillcrest is
    # named (Riverside's link is not written into a row Hillcrest's admins read).
    response = await world.ok(f"/pets/{world.my_pet}", HILLCREST_VET)
    row = await the_row(world, response)
    read_by(row, world, HILLCREST_VET, "pet.read")
    assert row["details"]["data_practice_ids"] == [str(world.hillcrest)]


async def test_a_pet_read_is_in_the_pets_access_log(world: World) -> None:
    await world.ok(f"/pets/{world.my_pet}", RIVERSIDE_TECH)
    log = await world.ok(f"/pets/{world.my_pet}/access-log", OWNER)
    newest = log.json()["items"][0]
    assert (newest["action"], newest["actor_id"]) == (
        "pet.read",
        str(world.users[RIVERSIDE_TECH].id),
    )
    assert newest["practice_id"] == str(world.riverside)


async def test_a_pet_list_names_the_pets_it_showed_page_by_page(world: World) -> None:
    first = await world.ok("/pets", owner_id=world.client_id, limit=2)
    assert ids_of(first) == world.client_pets[:2]
    row = await the_row(world, first)
    read_by(row, world, RIVERSIDE_VET, "pet.list")
    assert (row["resource_type"], row["resource_id"], row["pet_id"]) == ("pet", None, None)
    # The third pet was fetched (to know there is a next page) but not shown: not named.
    assert row["details"] == {
        "owner_id": world.client_id,
        "count": 2,
        "ids": world.client_pets[:2],
        "data_practice_ids": [str(world.riverside)],
    }
    cursor = first.json()["next_cursor"]
    second = await world.ok("/pets", owner_id=world.client_id, limit=2, cursor=cursor)
    assert ids_of(second) == world.client_pets[2:]
    row = await the_row(world, second)
    assert (row["details"]["count"], row["details"]["ids"]) == (1, world.client_pets[2:])

    # Outside a practice: the practices of the owners of the pets shown.
    for who in (OWNER, ADMIN):
        response = await world.ok("/pets", who, limit=200)
        row = await the_row(world, response)
        read_by(row, world, who, "pet.list")
        assert row["practice_id"] is None
        assert row["details"]["ids"] == ids_of(response)
        assert row["details"]["count"] == len(ids_of(response)) > 0
    owners = {item["owner_id"] for item in response.json()["items"]}  # the admin's page
    expected = sorted({p for owner in owners for p in await world.care_practices(owner)})
    assert row["details"]["data_practice_ids"] == expected


async def test_an_empty_list_is_audited_too(world: World) -> None:
    nothing = f"no-such-name-{next(_names)}"
    cases = (
        ("/pets", {"q": nothing}, "pet.list", RIVERSIDE_VET),
        ("/pets", {"q": nothing}, "pet.list", ADMIN),
        ("/pet-owners", {"q": nothing}, "pet_owner.list", RIVERSIDE_VET),
        (
            f"/practices/{world.riverside}/appointments",
            {"date": (world.day + timedelta(days=1)).isoformat()},
            "appointment.list",
            RIVERSIDE_TECH,
        ),
    )
    for url, params, action, who in cases:
        response = await world.ok(url, who, **params)
        assert response.json() == {"items": [], "next_cursor": None}
        row = await the_row(world, response)
        read_by(row, world, who, action)
        assert (row["details"]["count"], row["details"]["ids"]) == (0, []), url
        for name, value in params.items():
            assert row["details"][name] == value, url


# --------------------------------------------------------------------------- owners


async def test_owner_reads_leave_one_row_each(world: World) -> None:
    for who in (RIVERSIDE_TECH, ADMIN):
        response = await world.ok(f"/pet-owners/{world.client_id}", who)
        assert response.json()["full_name"] == "Audit Client Riverside"
        row = await the_row(world, response)
        read_by(row, world, who, "pet_owner.read")
        assert (row["resource_type"], row["resource_id"]) == ("pet_owner", world.client_id)
        assert row["pet_id"] is None
        assert row["details"] == {"data_practice_ids": [str(world.riverside)]}

    response = await world.ok(f"/pet-owners/{world.mine}", OWNER)
    row = await the_row(world, response)
    read_by(row, world, OWNER, "pet_owner.read")
    assert row["details"] == {"data_practice_ids": await world.care_practices(world.mine)}

    listed = await world.ok("/pet-owners", RIVERSIDE_VET, q="audit client riverside")
    assert ids_of(listed) == [world.client_id]
    row = await the_row(world, listed)
    read_by(row, world, RIVERSIDE_VET, "pet_owner.list")
    assert (row["resource_type"], row["resource_id"]) == ("pet_owner", None)
    assert row["details"] == {
        "q": "audit client riverside",
        "count": 1,
        "ids": [world.client_id],
        "data_practice_ids": [str(world.riverside)],
    }
    mine = await world.ok("/pet-owners", OWNER)
    row = await the_row(world, mine)
    assert (row["practice_id"], row["details"]["ids"]) == (None, [world.mine])
    assert row["details"]["data_practice_ids"] == await world.care_practices(world.mine)


async def test_the_owner_read_answers_as_its_schema_did(world: World) -> None:
    """The fast path renders an owner exactly as the PetOwnerOut model did."""
    async with world.app.state.container.uow() as uow:
        owner = await uow.pet_owners.get(UUID(world.mine), ClientScope(everything=True))
    expected = PetOwnerOut.model_validate(owner).model_dump(mode="json")
    single = (await world.ok(f"/pet-owners/{world.mine}", OWNER)).json()
    listed = (await world.ok("/pet-owners", OWNER)).json()["items"][0]
    for body in (single, listed):
        assert body == expected
        assert list(body) == list(expected)


# --------------------------------------------------------------------------- appointments


async def test_appointment_reads_leave_one_row_each(world: World) -> None:
    riverside = str(world.riverside)
    for who in (RIVERSIDE_TECH, ADMIN):
        response = await world.ok(f"/appointments/{world.single_pet_visit}", who)
        assert response.headers["etag"] == '"1"'
        row = await the_row(world, response)
        read_by(row, world, who, "appointment.read")
        assert (row["resource_type"], row["resource_id"]) == (
            "appointment",
            world.single_pet_visit,
        )
        assert str(row["pet_id"]) == world.client_pets[0]  # one pet: in its access log
        assert row["details"] == {
            "pet_owner_id": world.client_id,
            "pet_ids": [world.client_pets[0]],
            "data_practice_id": riverside,
        }
    # Two pets: no single pet to name; both in the details.
    response = await world.ok(f"/appointments/{world.two_pet_visit}")
    row = await the_row(world, response)
    assert row["pet_id"] is None
    assert row["details"]["pet_ids"] == sorted(world.client_pets[1:])

    response = await world.ok(f"/appointments/{world.my_visit}", OWNER)
    row = await the_row(world, response)
    read_by(row, world, OWNER, "appointment.read")
    assert row["practice_id"] is None
    assert row["details"]["data_practice_id"] == riverside


async def test_appointment_lists_name_what_they_showed(world: World) -> None:
    riverside = str(world.riverside)
    booked = [world.single_pet_visit, world.two_pet_visit, world.my_visit]
    url = f"/practices/{world.riverside}/appointments"
    for who in (RIVERSIDE_TECH, ADMIN):
        response = await world.ok(url, who, date=world.day.isoformat())
        assert ids_of(response) == booked
        row = await the_row(world, response)
        read_by(row, world, who, "appointment.list")
        assert (row["resource_type"], row["resource_id"]) == ("practice", riverside)
        assert row["details"] == {
            "date": world.day.isoformat(),
            "count": 3,
            "ids": booked,
            "data_practice_id": riverside,
        }
    page = await world.ok(url, RIVERSIDE_TECH, date=world.day.isoformat(), limit=1)
    row = await the_row(world, page)
    assert (row["details"]["count"], row["details"]["ids"]) == (1, booked[:1])

    # An owner's appointments: the owner named, the practices of the rows shown.
    response = await world.ok(f"/pet-owners/{world.client_id}/appointments", RIVERSIDE_VET)
    assert ids_of(response) == booked[:2]
    row = await the_row(world, response)
    read_by(row, world, RIVERSIDE_VET, "appointment.list")
    assert (row["resource_type"], row["resource_id"]) == ("pet_owner", world.client_id)
    assert row["details"] == {"count": 2, "ids": booked[:2], "data_practice_ids": [riverside]}

    for who in (OWNER, ADMIN, HILLCREST_VET):
        response = await world.ok(f"/pet-owners/{world.mine}/appointments", who, limit=200)
        row = await the_row(world, response)
        read_by(row, world, who, "appointment.list")
        assert row["details"]["ids"] == ids_of(response)
        assert row["details"]["data_practice_ids"] == practices_of(response)
        if who != HILLCREST_VET:
            assert world.my_visit in ids_of(response)
        else:  # Hillcrest sees only its own appointments of a shared client
            assert world.my_visit not in ids_of(response)


async def test_out_of_scope_reads_leave_a_denial_only(world: World) -> None:
    """A read refused by scope (404) writes no success row, and sends nothing."""
    for url in (
        f"/pets/{world.client_pets[0]}",
        f"/pet-owners/{world.client_id}",
        f"/pet-owners/{world.client_id}/appointments",
        f"/appointments/{world.single_pet_visit}",
    ):
        response = await world.get(url, HILLCREST_VET)
        assert response.status_code == 404, (url, response.text)
        row = await the_row(world, response)
        assert row["outcome"] == "denied", row
        assert "Audit" not in response.text


# --------------------------------------------------------------------------- fail closed


async def as_database_owner(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_a_read_whose_audit_row_cannot_be_written_sends_no_data(world: World) -> None:
    secret = f"Confidential {next(_names)}"
    owner = await world.post("/pet-owners", RIVERSIDE_VET, {"full_name": secret})
    pet = await world.post(
        "/pets", RIVERSIDE_VET, {"owner_id": owner["id"], "name": secret, "species": "dog"}
    )
    start = datetime.combine(world.day + timedelta(days=2), time(15), UTC)
    booking = (world.client, world.headers, world.riverside, world.users[RIVERSIDE_VET].id)
    visit = await book(booking, owner["id"], [pet["id"]], start, secret)
    urls = [
        (f"/pets/{pet['id']}", {}),
        ("/pets", {"owner_id": owner["id"]}),
        ("/pets", {"q": "nothing-like-this"}),  # an empty list: the row is still needed
        (f"/pet-owners/{owner['id']}", {}),
        ("/pet-owners", {"q": secret.lower()}),
        (f"/appointments/{visit}", {}),
        (
            f"/practices/{world.riverside}/appointments",
            {"date": (world.day + timedelta(days=2)).isoformat()},
        ),
        (f"/pet-owners/{owner['id']}/appointments", {}),
    ]
    actions = "'pet.read', 'pet.list', 'pet_owner.read', 'pet_owner.list', " + (
        "'appointment.read', 'appointment.list'"
    )
    await as_database_owner(
        world.url,
        "CREATE FUNCTION read_audit_refused() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_events refused by the test'; END $$",
        "CREATE TRIGGER read_audit_refused BEFORE INSERT ON audit_events FOR EACH ROW "
        f"WHEN (NEW.outcome = 'success' AND NEW.action IN ({actions})) "
        "EXECUTE FUNCTION read_audit_refused()",
    )
    try:
        for url, params in urls:
            for who in (RIVERSIDE_VET, ADMIN):
                response = await world.get(url, who, **params)
                assert 500 <= response.status_code < 600, (url, who, response.status_code)
                assert response.headers["content-type"].startswith("application/problem+json")
                problem = response.json()
                assert set(problem) <= PROBLEM_MEMBERS, problem
                problem.pop("instance")  # the request's own path (and query)
                assert secret.lower() not in json.dumps(problem).lower(), (url, problem)
                assert secret not in response.text, (url, response.text)
                rows = await audit_rows(world.app, response.headers["x-request-id"])
                assert [r for r in rows if r["outcome"] == "success"] == [], rows
    finally:
        await as_database_owner(
            world.url,
            "DROP TRIGGER read_audit_refused ON audit_events",
            "DROP FUNCTION read_audit_refused()",
        )
    report = await world.app.state.container.verify_audit()
    assert report.ok, report.broken
    for url, params in urls:
        response = await world.ok(url, RIVERSIDE_VET, **params)
        assert (await the_row(world, response))["outcome"] == "success"


# --------------------------------------------------------------------------- medical reads


async def test_medical_reads_are_in_the_readers_practice_with_the_datas_in_details(
    world: World,
) -> None:
    """The rule holds for the reads that were audited already: a record of Riverside's
    read by Hillcrest (a shared client), by its owner and by the SYSTEM_ADMIN."""
    visit_date = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    record = await world.post(
        f"/pets/{world.my_pet}/medical-records",
        RIVERSIDE_VET,
        {"record_type": "checkup", "title": "Audit check-up", "visit_date": visit_date},
    )
    riverside = str(world.riverside)
    for who in (HILLCREST_VET, OWNER, ADMIN):
        for url, details in (
            (f"/medical-records/{record['id']}", {}),
            (f"/medical-records/{record['id']}/history", {"view": "history"}),
            (f"/medical-records/{record['id']}/versions/1", {"view": "version", "version": 1}),
        ):
            response = await world.ok(url, who)
            row = await the_row(world, response)
            read_by(row, world, who, "medical_record.read")
            assert str(row["pet_id"]) == world.my_pet
            assert row["details"] == {**details, "data_practice_id": riverside}, url

        listed = await world.ok(f"/pets/{world.my_pet}/medical-records", who, limit=200)
        row = await the_row(world, listed)
        read_by(row, world, who, "medical_record.list")
        assert (row["resource_type"], row["resource_id"]) == ("pet", world.my_pet)
        assert record["id"] in row["details"]["ids"]
        assert row["details"] == {
            "count": len(ids_of(listed)),
            "ids": ids_of(listed),
            "data_practice_ids": practices_of(listed),
        }

    # The pet-level reads (timeline, visits, access log): the pet's practices.
    cared = await world.care_practices(world.mine)
    for url, action in (
        (f"/pets/{world.my_pet}/timeline", "pet.timeline"),
        (f"/pets/{world.my_pet}/visits", "visit.list"),
        (f"/pets/{world.my_pet}/access-log", "audit.read"),
    ):
        for who, practices in (
            (OWNER, cared),
            (ADMIN, cared),
            (HILLCREST_VET, [str(world.hillcrest)]),
        ):
            response = await world.ok(url, who)
            row = await the_row(world, response)
            read_by(row, world, who, action)
            assert row["details"] == {"data_practice_ids": practices}, (url, who)

    # An empty page of a pet's records is audited as one (no record shown).
    empty = await world.ok(f"/pets/{world.client_pets[0]}/medical-records")
    row = await the_row(world, empty)
    assert row["details"] == {"count": 0, "ids": [], "data_practice_ids": []}
