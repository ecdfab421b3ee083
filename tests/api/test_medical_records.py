"""Medical records through the HTTP API (API.md "Medical records", PRODUCT.md "Medical
record"): creation, every business rule, amendments with If-Match, history, versions and
as-of reads, signing and automatic finalisation, entered-in-error, the lists, follow-ups,
who may change what, and idempotent creates.

One world for the module (the demo data on its own database, everyone signed in). Every
test makes its own client and pet (through the API), so its lists hold only its records.
Every refused request is checked to change nothing: the record and its history are
re-read (as the SYSTEM_ADMIN, who may read everything) and compared.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio
from httpx import Response
from sqlalchemy import func, select

from tests.api.auth_helpers import (
    ADMIN,
    HILLCREST_TECH,
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
)
from tests.fixtures.world import NO_ID, open_world
from tests.fixtures.world import World as BaseWorld
from vetchart.adapters.db.tables import medical_record_events, medical_records, pets
from vetchart.config import RateLimitSettings
from vetchart.domain.records import (
    CONTENT_FIELDS,
    MedicalRecord,
    PetFacts,
    RecordContent,
    RecordType,
)
from vetchart.domain.users import Role

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"
TECH_2 = "tech2@riverside.example"  # a second VET_STAFF of Riverside, made for this module
BORN = date(2020, 1, 1)
_names = itertools.count(1)


# --------------------------------------------------------------------------- the world


@dataclass
class World(BaseWorld):
    owners_pet: UUID = NO_ID  # a dog of OWNER's own profile (a client of both practices)

    def days_ago(self, days: int) -> str:
        return (self.today() - timedelta(days=days)).isoformat()

    async def request(
        self, method: str, url: str, who: str, *, if_match: str | None = None, **kwargs: Any
    ) -> Response:
        headers = dict(self.headers[who]) if who != "ANON" else {}
        if if_match is not None:
            headers["If-Match"] = if_match
        headers |= kwargs.pop("headers", {})
        return await self.client.request(method, API + url, headers=headers, **kwargs)

    async def pet(
        self, who: str = RIVERSIDE_VET, *, species: str = "dog", born: date | None = BORN
    ) -> UUID:
        """A new client of the caller's practice (only) with one pet: its id."""
        n = next(_names)
        owner = await self.request("POST", "/pet-owners", who, json={"full_name": f"Client {n}"})
        assert owner.status_code == 201, owner.text
        body: dict[str, Any] = {
            "owner_id": owner.json()["id"],
            "name": f"Pet {n}",
            "species": species,
        }
        if born is not None:
            body["date_of_birth"] = born.isoformat()
        pet = await self.request("POST", "/pets", who, json=body)
        assert pet.status_code == 201, pet.text
        return UUID(pet.json()["id"])

    def body(self, **overrides: Any) -> dict[str, Any]:
        """A valid dog check-up two days ago."""
        values: dict[str, Any] = {
            "record_type": "checkup",
            "title": "Annual check-up",
            "visit_date": self.days_ago(2),
            "weight_kg": "20.5",
            "temperature_c": "38.5",
            "cost": "45.00",
        }
        values.update(overrides)
        return {k: v for k, v in values.items() if v is not ...}

    async def create(self, pet_id: UUID, who: str = RIVERSIDE_VET, **overrides: Any) -> Response:
        return await self.request(
            "POST", f"/pets/{pet_id}/medical-records", who, json=self.body(**overrides)
        )

    async def record(self, pet_id: UUID, who: str = RIVERSIDE_VET, **overrides: Any) -> dict:  # type: ignore[type-arg]
        response = await self.create(pet_id, who, **overrides)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def patch(
        self, record_id: str, changes: dict[str, Any], who: str = RIVERSIDE_VET, **kwargs: Any
    ) -> Response:
        return await self.request(
            "PATCH", f"/medical-records/{record_id}", who, json=changes, **kwargs
        )

    async def state(self, record_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The record and its history, as the SYSTEM_ADMIN reads them."""
        current = await self.request("GET", f"/medical-records/{record_id}", ADMIN)
        assert current.status_code == 200, current.text
        history = await self.request("GET", f"/medical-records/{record_id}/history", ADMIN)
        assert history.status_code == 200, history.text
        return current.json(), history.json()["items"]

    async def refused(
        self, record_id: str, status: int, request: Awaitable[Response]
    ) -> dict[str, Any]:
        """Send a request that must be refused with ``status`` and change nothing."""
        before = await self.state(record_id)
        response = await request
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert await self.state(record_id) == before
        return response.json()  # type: ignore[no-any-return]

    async def count_records(self, pet_id: UUID) -> int:
        async with self.container.engine.connect() as conn:
            query = select(func.count()).where(medical_records.c.pet_id == pet_id)
            return int(await conn.scalar(query) or 0)

    async def events(self, record_id: str) -> list[int]:
        async with self.container.engine.connect() as conn:
            query = (
                select(medical_record_events.c.version)
                .where(medical_record_events.c.record_id == UUID(record_id))
                .order_by(medical_record_events.c.version)
            )
            return list((await conn.scalars(query)).all())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(pg_server_url: str, template_database: str) -> AsyncIterator[World]:
    async with open_world(
        pg_server_url,
        template_database,
        "records",
        World,
        rate_limit=RateLimitSettings(enabled=False),
    ) as world:
        await world.seed_demo()
        tech = world.users[RIVERSIDE_TECH]
        await world.add_user(
            TECH_2, Role.VET_STAFF, tech.practice_id, full_name="Second Technician"
        )
        await world.sign_in()
        mine = await world.request("GET", "/pets", OWNER, params={"species": "dog"})
        assert mine.status_code == 200, mine.text
        world.owners_pet = UUID(mine.json()["items"][0]["id"])
        yield world


def assert_rule(response: Response, rule: str, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["rule"] == f"medical_record.{rule}", body
    assert body["field"] == field, body


def content_of(record: dict[str, Any]) -> dict[str, Any]:
    """The clinical fields of a record or snapshot, decimals as numbers."""
    out = {name: record[name] for name in (*CONTENT_FIELDS, "status")}
    for name in ("weight_kg", "temperature_c", "cost"):
        if out[name] is not None:
            out[name] = Decimal(out[name])
    return out


# --------------------------------------------------------------------------- create


async def test_create_answers_201_with_location_and_etag(world: World) -> None:
    pet = await world.pet()
    response = await world.create(pet, RIVERSIDE_TECH, diagnosis="Healthy")
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"{API}/medical-records/{created['id']}"
    assert created["version"] == 1
    assert created["status"] == "active"
    assert created["pet_id"] == str(pet)
    assert created["practice_id"] == str(world.riverside)
    assert created["author_id"] == str(world.users[RIVERSIDE_TECH].id)
    assert created["finalised_at"] is None
    assert created["signed_at"] is None

    fetched = await world.client.get(response.headers["location"], headers=world.headers[OWNER])
    assert fetched.status_code == 404  # not OWNER's pet
    fetched = await world.client.get(
        response.headers["location"], headers=world.headers[RIVERSIDE_VET]
    )
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == '"1"'
    # The same representation, to the digit, whether just created or read back.
    assert fetched.json() == created

    current, history = await world.state(created["id"])
    assert [entry["version"] for entry in history] == [1]
    assert history[0]["event_type"] == "created"
    assert content_of(history[0]["snapshot"]) == content_of(current)
    assert await world.events(created["id"]) == [1]


# Each rule: (rule, field, failing overrides, passing overrides). The pet is a dog born on
# BORN; the default body is a valid check-up two days ago.
def _rule_cases(today: date) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    tomorrow, visit = (today + timedelta(days=1)).isoformat(), (today - timedelta(days=2))
    return [
        (
            "visit_date_in_future",
            "visit_date",
            {"visit_date": tomorrow},
            {"visit_date": today.isoformat()},
        ),
        (
            "visit_date_before_birth",
            "visit_date",
            {"visit_date": (BORN - timedelta(days=1)).isoformat()},
            {"visit_date": BORN.isoformat()},
        ),
        (
            "follow_up_date_required",
            "follow_up_date",
            {"follow_up_required": True},
            {"follow_up_required": True, "follow_up_date": (visit + timedelta(14)).isoformat()},
        ),
        (
            "follow_up_date_not_after_visit",
            "follow_up_date",
            {"follow_up_required": True, "follow_up_date": visit.isoformat()},
            {"follow_up_required": True, "follow_up_date": (visit + timedelta(1)).isoformat()},
        ),
        ("weight_out_of_range", "weight_kg", {"weight_kg": "0"}, {"weight_kg": "0.3"}),
        ("weight_out_of_range", "weight_kg", {"weight_kg": "-2.5"}, {"weight_kg": "42"}),
        ("weight_out_of_range", "weight_kg", {"weight_kg": "1500.5"}, {"weight_kg": "110"}),
        (
            "weight_implausible_for_species",
            "weight_kg",
            {"weight_kg": "450"},  # a horse's weight
            {"weight_kg": "45"},
        ),
        (
            "temperature_out_of_range",
            "temperature_c",
            {"temperature_c": "29.5"},
            {"temperature_c": "35"},
        ),
        (
            "temperature_out_of_range",
            "temperature_c",
            {"temperature_c": "45.5"},
            {"temperature_c": "42.5"},
        ),
        (
            "temperature_implausible_for_species",
            "temperature_c",
            {"temperature_c": "44"},  # a bird's temperature
            {"temperature_c": "39.2"},
        ),
        ("cost_negative", "cost", {"cost": "-0.01"}, {"cost": "0"}),
        (
            "vaccine_name_required",
            "data.vaccine_name",
            {"record_type": "vaccination", "data": {"batch": "A1"}},
            {"record_type": "vaccination", "data": {"vaccine_name": "Rabies", "batch": "A1"}},
        ),
        (
            "medications_required",
            "medications",
            {"record_type": "prescription"},
            {"record_type": "prescription", "medications": "Amoxicillin 250 mg bid x 7d"},
        ),
    ]


RULE_IDS = [
    "future-visit",
    "before-birth",
    "follow-up-without-date",
    "follow-up-not-after-visit",
    "weight-zero",
    "weight-negative",
    "weight-over-1500",
    "weight-for-species",
    "temperature-low",
    "temperature-high",
    "temperature-for-species",
    "cost-negative",
    "vaccine-name",
    "medications",
]


@pytest.mark.parametrize("case", range(len(RULE_IDS)), ids=RULE_IDS)
async def test_each_business_rule_on_create(world: World, case: int) -> None:
    rule, field, failing, passing = _rule_cases(world.today())[case]
    pet = await world.pet()
    refused = await world.create(pet, **failing)
    assert_rule(refused, rule, field)
    assert refused.json()["type"].endswith("rule-violation")
    assert await world.count_records(pet) == 0
    accepted = await world.create(pet, **passing)
    assert accepted.status_code == 201, accepted.text
    assert await world.count_records(pet) == 1


@pytest.mark.parametrize("case", range(len(RULE_IDS)), ids=RULE_IDS)
async def test_each_business_rule_on_amend(world: World, case: int) -> None:
    rule, field, failing, passing = _rule_cases(world.today())[case]
    pet = await world.pet()
    record = await world.record(pet)
    problem = await world.refused(
        record["id"], 422, world.patch(record["id"], failing, if_match='"1"')
    )
    assert (problem["rule"], problem["field"]) == (f"medical_record.{rule}", field)
    accepted = await world.patch(record["id"], passing, if_match='"1"')
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["version"] == 2
    assert accepted.headers["etag"] == '"2"'


async def test_no_records_on_a_deactivated_pet(world: World) -> None:
    pet = await world.pet()
    deactivated = await world.request("POST", f"/pets/{pet}/deactivate", RIVERSIDE_VET)
    assert deactivated.status_code == 200, deactivated.text
    assert_rule(await world.create(pet), "pet_inactive", "pet_id")
    assert await world.count_records(pet) == 0
    reactivated = await world.request("POST", f"/pets/{pet}/reactivate", RIVERSIDE_VET)
    assert reactivated.status_code == 200, reactivated.text
    assert (await world.create(pet)).status_code == 201


async def test_species_ranges_through_the_api(world: World) -> None:
    """A horse may weigh 450 kg and a bird run at 44 °C; a cat may not weigh 20 kg; an
    unknown species gets the general bounds only."""
    horse = await world.pet(species="horse")
    assert (await world.create(horse, weight_kg="450", temperature_c="37.8")).status_code == 201
    assert_rule(
        await world.create(horse, weight_kg="15"), "weight_implausible_for_species", "weight_kg"
    )
    bird = await world.pet(species="bird")
    assert (await world.create(bird, weight_kg="0.4", temperature_c="44")).status_code == 201
    cat = await world.pet(species="cat")
    refused = await world.create(cat, weight_kg="20")
    assert_rule(refused, "weight_implausible_for_species", "weight_kg")
    assert "0.1-15" in refused.json()["detail"]
    odd = await world.pet(species="axolotl")
    assert (await world.create(odd, weight_kg="1500", temperature_c="30")).status_code == 201
    assert_rule(
        await world.create(odd, temperature_c="29.9"), "temperature_out_of_range", "temperature_c"
    )


async def test_a_pet_without_a_birth_date_takes_any_past_visit(world: World) -> None:
    pet = await world.pet(born=None)
    assert (await world.create(pet, visit_date="2001-02-03")).status_code == 201


async def test_unknown_and_read_only_fields_are_refused(world: World) -> None:
    pet = await world.pet()
    for extra in ({"author_id": str(world.users[ADMIN].id)}, {"version": 7}, {"colour": "red"}):
        response = await world.create(pet, **extra)
        assert response.status_code == 422, response.text
        assert response.json()["errors"], response.text
    assert await world.count_records(pet) == 0
    record = await world.record(pet)
    for extra in (
        {"practice_id": str(world.hillcrest)},
        {"version": 9},
        {"status": "entered_in_error"},
        {"signed_by": str(world.users[RIVERSIDE_VET].id)},
        {"title": "Fine", "created_at": "2020-01-01T00:00:00Z"},
    ):
        await world.refused(record["id"], 422, world.patch(record["id"], extra, if_match='"1"'))
    # Clearing a required field names it.
    problem = await world.refused(
        record["id"], 422, world.patch(record["id"], {"visit_date": None}, if_match='"1"')
    )
    assert problem["rule"] == "medical_record.visit_date_required"


# --------------------------------------------------------------------------- amendments


async def test_patch_needs_the_current_version_in_if_match(world: World) -> None:
    pet = await world.pet()
    record = await world.record(pet)
    rid = record["id"]
    change = {"diagnosis": "Otitis externa"}
    await world.refused(rid, 428, world.patch(rid, change))
    await world.refused(rid, 428, world.patch(rid, change, if_match="*"))
    await world.refused(rid, 412, world.patch(rid, change, if_match='"2"'))
    await world.refused(rid, 412, world.patch(rid, change, if_match='"abc"'))

    first = await world.patch(rid, change, if_match='"1"')
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == '"2"'
    assert first.json()["diagnosis"] == "Otitis externa"
    assert first.json()["version"] == 2
    # The version the change was based on is now stale.
    problem = await world.refused(rid, 412, world.patch(rid, {"diagnosis": "x"}, if_match='"1"'))
    assert problem["current_version"] == 2
    # A weak ETag of the current version is fine.
    second = await world.patch(rid, {"treatment": "Ear drops"}, if_match='W/"2"')
    assert second.status_code == 200, second.text
    assert await world.events(rid) == [1, 2, 3]


async def test_a_patch_that_changes_nothing_makes_no_version(world: World) -> None:
    pet = await world.pet()
    record = await world.record(pet, diagnosis="Healthy")
    rid = record["id"]
    before = await world.state(rid)
    same = {
        "title": record["title"],
        "diagnosis": "Healthy",
        "weight_kg": "20.500",  # the same number, spelled differently
        "cost": "45",
        "visit_date": record["visit_date"],
    }
    for changes in (same, {}):
        response = await world.patch(rid, changes, if_match='"1"')
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == '"1"'
        assert response.json()["version"] == 1
    assert await world.state(rid) == before
    assert await world.events(rid) == [1]
    # Still checked: a no-op on a stale version is refused.
    await world.refused(rid, 412, world.patch(rid, {}, if_match='"7"'))


async def test_history_versions_and_as_of(world: World) -> None:
    pet = await world.pet()
    record = await world.record(pet, RIVERSIDE_TECH)
    rid = record["id"]
    v2 = await world.patch(
        rid, {"title": "Check-up and vaccination plan"}, RIVERSIDE_TECH, if_match='"1"'
    )
    assert v2.status_code == 200, v2.text
    v3 = await world.patch(
        rid,
        {"weight_kg": "21.25", "cost": "60.50", "amendment_reason": "Re-weighed"},
        RIVERSIDE_VET,
        if_match='"2"',
    )
    assert v3.status_code == 200, v3.text

    response = await world.request("GET", f"/medical-records/{rid}/history", RIVERSIDE_MANAGER)
    assert response.status_code == 200
    history = response.json()["items"]
    assert [h["version"] for h in history] == [1, 2, 3]
    assert [h["event_type"] for h in history] == ["created", "amended", "amended"]
    times = [datetime.fromisoformat(h["recorded_at"]) for h in history]
    assert times == sorted(times)
    assert all(t.utcoffset() is not None for t in times)
    tech, vet = world.users[RIVERSIDE_TECH], world.users[RIVERSIDE_VET]
    assert [h["actor"]["id"] for h in history] == [str(tech.id), str(tech.id), str(vet.id)]
    assert history[2]["actor"] == {"id": str(vet.id), "full_name": vet.full_name, "role": "VET"}
    assert [h["reason"] for h in history] == [None, None, "Re-weighed"]
    assert history[1]["changed_fields"] == ["title"]
    assert history[2]["changed_fields"] == ["weight_kg", "cost"]
    assert [h["late"] for h in history] == [False, False, False]
    assert history[0]["snapshot"]["title"] == "Annual check-up"
    assert history[1]["snapshot"]["title"] == "Check-up and vaccination plan"
    assert Decimal(history[1]["snapshot"]["weight_kg"]) == Decimal("20.5")
    assert Decimal(history[2]["snapshot"]["weight_kg"]) == Decimal("21.25")
    assert [h["snapshot"]["version"] for h in history] == [1, 2, 3]

    # The last event is the projection; and the same JSON as the current record.
    current = await world.request("GET", f"/medical-records/{rid}", RIVERSIDE_TECH)
    assert current.headers["etag"] == '"3"'
    assert content_of(history[-1]["snapshot"]) == content_of(current.json())
    assert {k: history[-1]["snapshot"][k] for k in ("weight_kg", "cost")} == {
        k: current.json()[k] for k in ("weight_kg", "cost")
    }

    # One version at a time.
    for entry in history:
        one = await world.request(
            "GET", f"/medical-records/{rid}/versions/{entry['version']}", ADMIN
        )
        assert one.status_code == 200
        assert one.json() == entry
    assert (
        await world.request("GET", f"/medical-records/{rid}/versions/4", ADMIN)
    ).status_code == 404
    assert (
        await world.request("GET", f"/medical-records/{rid}/versions/0", ADMIN)
    ).status_code == 422

    # As of any instant: the version that stood then.
    async def as_of(moment: datetime) -> Response:
        return await world.request(
            "GET", f"/medical-records/{rid}", RIVERSIDE_VET, params={"as_of": moment.isoformat()}
        )

    before = await as_of(times[0] - timedelta(microseconds=1))
    assert before.status_code == 404
    for i, moment in enumerate(times):
        exact = await as_of(moment)
        assert exact.status_code == 200, exact.text
        assert exact.json()["version"] == i + 1
        assert exact.headers["etag"] == f'"{i + 1}"'
        assert content_of(exact.json()) == content_of(history[i]["snapshot"])
    between = await as_of(times[1] + (times[2] - times[1]) / 2)
    assert between.json()["version"] == 2
    assert between.json()["title"] == "Check-up and vaccination plan"
    assert Decimal(between.json()["weight_kg"]) == Decimal("20.5")
    later = await as_of(times[2] + timedelta(days=1))
    assert later.json()["version"] == 3
    # A time without an offset is ambiguous: refused, not guessed (nor a server error).
    naive = await world.request(
        "GET", f"/medical-records/{rid}", RIVERSIDE_VET, params={"as_of": "2030-01-01T00:00:00"}
    )
    assert naive.status_code == 422, naive.text


async def test_missing_records_and_versions(world: World) -> None:
    missing = "0190a000-0000-7000-8000-00000000dead"
    for url in (
        f"/medical-records/{missing}",
        f"/medical-records/{missing}/history",
        f"/medical-records/{missing}/versions/1",
    ):
        assert (await world.request("GET", url, ADMIN)).status_code == 404
    assert (await world.patch(missing, {"title": "x"}, if_match='"1"')).status_code == 404


# --------------------------------------------------------------------------- finalisation


async def test_signing_finalises_and_later_amendments_need_a_reason(world: World) -> None:
    pet = await world.pet()
    record = await world.record(pet, RIVERSIDE_TECH)
    rid = record["id"]

    async def sign(who: str, if_match: str | None = '"1"') -> Response:
        return await world.request("POST", f"/medical-records/{rid}/sign", who, if_match=if_match)

    await world.refused(rid, 403, sign(RIVERSIDE_TECH))  # VET_STAFF
    await world.refused(rid, 403, sign(RIVERSIDE_MANAGER))  # signing is a vet's act
    await world.refused(rid, 404, sign(HILLCREST_VET))  # a Riverside-only client's pet
    await world.refused(rid, 403, sign(ADMIN))
    await world.refused(rid, 428, sign(RIVERSIDE_VET, None))
    await world.refused(rid, 412, sign(RIVERSIDE_VET, '"2"'))

    signed = await sign(RIVERSIDE_VET)
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert signed.headers["etag"] == '"2"'
    assert body["version"] == 2
    assert body["signed_by"] == str(world.users[RIVERSIDE_VET].id)
    assert body["signed_at"] is not None
    assert body["finalised_at"] == body["signed_at"]
    await world.refused(rid, 409, sign(RIVERSIDE_VET, '"2"'))  # only once

    problem = await world.refused(
        rid, 422, world.patch(rid, {"diagnosis": "Revised"}, RIVERSIDE_TECH, if_match='"2"')
    )
    assert (problem["rule"], problem["field"]) == (
        "medical_record.amendment_reason_required",
        "amendment_reason",
    )
    late = await world.patch(
        rid,
        {"diagnosis": "Revised", "amendment_reason": "Lab results arrived"},
        RIVERSIDE_TECH,
        if_match='"2"',
    )
    assert late.status_code == 200, late.text
    assert late.json()["version"] == 3
    _, history = await world.state(rid)
    assert [(h["event_type"], h["late"]) for h in history] == [
        ("created", False),
        ("signed", False),
        ("amended", True),
    ]
    assert history[2]["reason"] == "Lab results arrived"


async def test_a_vet_of_another_practice_sees_but_cannot_sign(world: World) -> None:
    """OWNER's pet is a client of both practices: Hillcrest's vet reads Riverside's
    record (visible) but may neither sign (403) nor amend it (403)."""
    record = await world.record(world.owners_pet)
    rid = record["id"]
    assert (await world.request("GET", f"/medical-records/{rid}", HILLCREST_VET)).status_code == 200
    await world.refused(
        rid,
        403,
        world.request("POST", f"/medical-records/{rid}/sign", HILLCREST_VET, if_match='"1"'),
    )
    await world.refused(rid, 403, world.patch(rid, {"title": "x"}, HILLCREST_VET, if_match='"1"'))


async def _insert_record(world: World, pet_id: UUID, created_at: datetime) -> str:
    """A record written by Riverside's technician at ``created_at`` (inserted directly)."""
    async with world.container.engine.connect() as conn:
        row = (await conn.execute(select(pets).where(pets.c.id == pet_id))).mappings().one()
    pet = PetFacts(row["id"], row["species"], row["date_of_birth"], row["is_active"])
    record = MedicalRecord.create(
        record_id=world.container.ids.new_id(),
        pet=pet,
        practice_id=world.riverside,
        author_id=world.users[RIVERSIDE_TECH].id,
        content=RecordContent(
            record_type=RecordType.CHECKUP,
            title="Written yesterday",
            visit_date=created_at.date() - timedelta(days=1),
            weight_kg=Decimal("20.500"),
        ),
        now=created_at,
    )
    async with world.container.uow() as uow:
        await uow.records.add(record)
        await uow.commit()
    return str(record.id)


async def test_records_finalise_automatically_after_24_hours(world: World) -> None:
    pet = await world.pet()
    created_at = world.container.clock.now() - timedelta(hours=25)
    rid = await _insert_record(world, pet, created_at)
    current, _ = await world.state(rid)
    assert current["signed_at"] is None
    finalised = datetime.fromisoformat(current["finalised_at"])
    assert finalised == created_at + timedelta(hours=24)

    problem = await world.refused(
        rid, 422, world.patch(rid, {"title": "Tidied"}, RIVERSIDE_TECH, if_match='"1"')
    )
    assert problem["rule"] == "medical_record.amendment_reason_required"
    # A blank reason is no reason.
    await world.refused(
        rid,
        422,
        world.patch(
            rid, {"title": "Tidied", "amendment_reason": "  "}, RIVERSIDE_TECH, if_match='"1"'
        ),
    )
    amended = await world.patch(
        rid,
        {"title": "Tidied", "amendment_reason": "Clearer title"},
        RIVERSIDE_TECH,
        if_match='"1"',
    )
    assert amended.status_code == 200, amended.text
    _, history = await world.state(rid)
    assert history[-1]["late"] is True
    assert history[-1]["reason"] == "Clearer title"

    # A record of 23 hours is still being tidied: no reason needed, not late.
    young = await _insert_record(world, pet, world.container.clock.now() - timedelta(hours=23))
    current, _ = await world.state(young)
    assert current["finalised_at"] is None
    tidied = await world.patch(young, {"title": "Tidied"}, RIVERSIDE_TECH, if_match='"1"')
    assert tidied.status_code == 200, tidied.text
    _, history = await world.state(young)
    assert history[-1]["late"] is False


# --------------------------------------------------------------------------- entered in error


async def test_entered_in_error_hides_the_record_but_keeps_its_history(world: World) -> None:
    pet = await world.pet()
    keep = await world.record(pet, visit_date=world.days_ago(1))
    wrong = await world.record(pet, RIVERSIDE_TECH, visit_date=world.days_ago(3))
    rid = wrong["id"]
    url = f"/medical-records/{rid}/entered-in-error"

    async def mark(who: str, body: dict[str, Any], if_match: str | None = '"1"') -> Response:
        return await world.request("POST", url, who, if_match=if_match, json=body)

    reason = {"reason": "Recorded on the wrong pet"}
    await world.refused(rid, 428, mark(RIVERSIDE_VET, reason, None))
    await world.refused(rid, 412, mark(RIVERSIDE_VET, reason, '"3"'))
    await world.refused(rid, 422, mark(RIVERSIDE_VET, {}))
    await world.refused(rid, 422, mark(RIVERSIDE_VET, {"reason": ""}))
    await world.refused(rid, 422, mark(RIVERSIDE_VET, {"reason": "   "}))
    await world.refused(rid, 403, mark(TECH_2, reason))  # another technician
    await world.refused(rid, 403, mark(ADMIN, reason))

    marked = await mark(RIVERSIDE_VET, reason)
    assert marked.status_code == 200, marked.text
    assert marked.headers["etag"] == '"2"'
    assert marked.json()["status"] == "entered_in_error"
    assert marked.json()["entered_in_error_reason"] == "Recorded on the wrong pet"

    listed = await world.request("GET", f"/pets/{pet}/medical-records", RIVERSIDE_VET)
    assert [r["id"] for r in listed.json()["items"]] == [keep["id"]]
    everything = await world.request(
        "GET",
        f"/pets/{pet}/medical-records",
        RIVERSIDE_VET,
        params={"include_entered_in_error": "true"},
    )
    assert [r["id"] for r in everything.json()["items"]] == [keep["id"], rid]

    current, history = await world.state(rid)
    assert current["status"] == "entered_in_error"
    assert [(h["version"], h["event_type"]) for h in history] == [
        (1, "created"),
        (2, "entered_in_error"),
    ]
    assert history[1]["reason"] == "Recorded on the wrong pet"
    assert history[0]["snapshot"]["status"] == "active"

    # Nothing changes it any more (409), even with the current version.
    await world.refused(rid, 409, world.patch(rid, {"title": "x"}, if_match='"2"'))
    await world.refused(rid, 409, mark(RIVERSIDE_VET, {"reason": "again"}, '"2"'))
    await world.refused(
        rid,
        409,
        world.request("POST", f"/medical-records/{rid}/sign", RIVERSIDE_VET, if_match='"2"'),
    )
    assert await world.events(rid) == [1, 2]


async def test_records_cannot_be_deleted(world: World) -> None:
    pet = await world.pet()
    record = await world.record(pet)
    response = await world.refused(
        record["id"],
        405,
        world.request("DELETE", f"/medical-records/{record['id']}", RIVERSIDE_VET),
    )
    assert response["status"] == 405
    deleted = await world.request("DELETE", f"/medical-records/{record['id']}", ADMIN)
    allowed = {m.strip() for m in deleted.headers["allow"].split(",")}
    assert {"GET", "PATCH"} <= allowed
    assert "DELETE" not in allowed
    assert await world.count_records(pet) == 1


# --------------------------------------------------------------------------- lists


async def test_list_order_filters_and_keyset_pages(world: World) -> None:
    pet = await world.pet()
    made = [
        await world.record(pet, visit_date=world.days_ago(10)),
        await world.record(pet, visit_date=world.days_ago(20), record_type="dental"),
        await world.record(pet, visit_date=world.days_ago(20)),
        await world.record(pet, visit_date=world.days_ago(20), record_type="surgery"),
        await world.record(
            pet,
            visit_date=world.days_ago(30),
            record_type="vaccination",
            data={"vaccine_name": "Rabies"},
        ),
        await world.record(pet, visit_date=world.days_ago(40)),
    ]
    expected = sorted(made, key=lambda r: (r["visit_date"], r["id"]), reverse=True)
    url = f"/pets/{pet}/medical-records"

    async def listing(**params: Any) -> list[dict[str, Any]]:
        response = await world.request("GET", url, RIVERSIDE_VET, params=params)
        assert response.status_code == 200, response.text
        return response.json()["items"]  # type: ignore[no-any-return]

    assert [r["id"] for r in await listing()] == [r["id"] for r in expected]

    # Keyset pages of 2: the same rows, once each, in the same order.
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(10):
        response = await world.request("GET", url, RIVERSIDE_VET, params=params)
        body = response.json()
        assert len(body["items"]) <= 2
        seen += [r["id"] for r in body["items"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == [r["id"] for r in expected]

    checkups = await listing(record_type="checkup")
    assert [r["id"] for r in checkups] == [
        r["id"] for r in expected if r["record_type"] == "checkup"
    ]
    window = await listing(**{"from": world.days_ago(30), "to": world.days_ago(20)})
    assert [r["id"] for r in window] == [
        r["id"] for r in expected if world.days_ago(30) <= r["visit_date"] <= world.days_ago(20)
    ]
    assert len(window) == 4
    assert await listing(**{"from": world.days_ago(5)}) == []
    assert len(await listing(to=world.days_ago(25))) == 2

    # A cursor is bound to its list and filters; limits are 1-200.
    first = await world.request("GET", url, RIVERSIDE_VET, params={"limit": 1})
    cursor = first.json()["next_cursor"]
    other = await world.request(
        "GET", url, RIVERSIDE_VET, params={"limit": 1, "cursor": cursor, "record_type": "dental"}
    )
    assert other.status_code == 400
    for limit in (0, 201):
        bad = await world.request("GET", url, RIVERSIDE_VET, params={"limit": limit})
        assert bad.status_code == 422
    assert (
        await world.request("GET", url, RIVERSIDE_VET, params={"record_type": "grooming"})
    ).status_code == 422


async def test_lists_are_scoped(world: World) -> None:
    pet = await world.pet()
    await world.record(pet)
    url = f"/pets/{pet}/medical-records"
    for who, status in (
        (RIVERSIDE_TECH, 200),
        (RIVERSIDE_MANAGER, 200),
        (ADMIN, 200),
        (HILLCREST_VET, 404),
        (HILLCREST_TECH, 404),
        (OWNER, 404),
        ("ANON", 401),
    ):
        response = await world.request("GET", url, who)
        assert response.status_code == status, (who, response.text)
    missing = await world.request(
        "GET", "/pets/0190a000-0000-7000-8000-00000000beef/medical-records", RIVERSIDE_VET
    )
    assert missing.status_code == 404


async def test_follow_ups_due_for_a_practice(world: World) -> None:
    pet = await world.pet()
    today = world.today()
    due = await world.record(
        pet,
        visit_date=world.days_ago(30),
        follow_up_required=True,
        follow_up_date=world.days_ago(5),
    )
    due_today = await world.record(
        pet,
        visit_date=world.days_ago(30),
        follow_up_required=True,
        follow_up_date=today.isoformat(),
    )
    later = await world.record(
        pet,
        visit_date=world.days_ago(3),
        follow_up_required=True,
        follow_up_date=(today + timedelta(days=10)).isoformat(),
    )
    cancelled = await world.record(
        pet,
        visit_date=world.days_ago(30),
        follow_up_required=True,
        follow_up_date=world.days_ago(6),
    )
    marked = await world.request(
        "POST",
        f"/medical-records/{cancelled['id']}/entered-in-error",
        RIVERSIDE_VET,
        if_match='"1"',
        json={"reason": "Duplicate"},
    )
    assert marked.status_code == 200
    plain = await world.record(pet, visit_date=world.days_ago(30))
    mine = {r["id"] for r in (due, due_today, later, cancelled, plain)}
    url = f"/practices/{world.riverside}/follow-ups"

    async def follow_ups(who: str = RIVERSIDE_TECH, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        query = {"limit": 200, **params}
        for _ in range(20):
            response = await world.request("GET", url, who, params=query)
            assert response.status_code == 200, response.text
            items += response.json()["items"]
            if response.json()["next_cursor"] is None:
                return items
            query["cursor"] = response.json()["next_cursor"]
        raise AssertionError("the list never ended")

    default = await follow_ups()
    assert {r["id"] for r in default} & mine == {due["id"], due_today["id"]}
    for items, bound in (
        (default, today),
        (await follow_ups(due_before=today + timedelta(10)), today + timedelta(10)),
    ):
        assert all(r["practice_id"] == str(world.riverside) for r in items)
        assert all(r["follow_up_required"] and r["status"] == "active" for r in items)
        assert all(date.fromisoformat(r["follow_up_date"]) <= bound for r in items)
        keys = [(r["follow_up_date"], r["id"]) for r in items]
        assert keys == sorted(keys)
    wider = await follow_ups(due_before=(today + timedelta(days=10)).isoformat())
    assert {r["id"] for r in wider} & mine == {due["id"], due_today["id"], later["id"]}
    narrower = await follow_ups(RIVERSIDE_VET, due_before=world.days_ago(5))
    assert {r["id"] for r in narrower} & mine == {due["id"]}
    assert {r["id"] for r in await follow_ups(ADMIN)} & mine == {due["id"], due_today["id"]}
    # Small pages walk the same list.
    paged = await world.request("GET", url, RIVERSIDE_TECH, params={"limit": 1})
    assert paged.json()["next_cursor"] is not None

    for who, status in ((HILLCREST_VET, 403), (HILLCREST_TECH, 403), (OWNER, 403), ("ANON", 401)):
        response = await world.request("GET", url, who)
        assert response.status_code == status, (who, response.text)
    hillcrest = await world.request(
        "GET", f"/practices/{world.hillcrest}/follow-ups", HILLCREST_VET
    )
    assert hillcrest.status_code == 200
    assert not {r["id"] for r in hillcrest.json()["items"]} & mine
    for who in (RIVERSIDE_VET, ADMIN):
        missing = await world.request(
            "GET", "/practices/0190a000-0000-7000-8000-00000000cafe/follow-ups", who
        )
        assert missing.status_code == 404, missing.text


# --------------------------------------------------------------------------- who may do what


async def test_who_may_amend(world: World) -> None:
    pet = await world.pet()
    record = await world.record(pet, RIVERSIDE_TECH)
    rid = record["id"]
    version = 1

    async def amend_as(who: str) -> Response:
        return await world.patch(rid, {"diagnosis": f"By {who}"}, who, if_match=f'"{version}"')

    # The author (a VET_STAFF), then a VET and a PRACTICE_ADMIN of the authoring practice.
    for who in (RIVERSIDE_TECH, RIVERSIDE_VET, RIVERSIDE_MANAGER):
        response = await amend_as(who)
        assert response.status_code == 200, (who, response.text)
        version += 1
        assert response.json()["version"] == version
    # Another technician of the same practice: visible, not theirs.
    await world.refused(rid, 403, amend_as(TECH_2))
    await world.refused(rid, 403, amend_as(ADMIN))
    # Staff of a practice that cannot see the pet: it does not exist for them.
    await world.refused(rid, 404, amend_as(HILLCREST_VET))
    await world.refused(rid, 404, amend_as(HILLCREST_TECH))
    await world.refused(rid, 404, amend_as(OWNER))
    await world.refused(rid, 401, amend_as("ANON"))
    _, history = await world.state(rid)
    assert [h["actor"]["id"] for h in history[1:]] == [
        str(world.users[email].id) for email in (RIVERSIDE_TECH, RIVERSIDE_VET, RIVERSIDE_MANAGER)
    ]


async def test_owners_read_their_pets_records_but_never_write(world: World) -> None:
    record = await world.record(world.owners_pet, visit_date=world.days_ago(1))
    rid = record["id"]
    listed = await world.request(
        "GET", f"/pets/{world.owners_pet}/medical-records", OWNER, params={"limit": 200}
    )
    assert listed.status_code == 200
    assert rid in {r["id"] for r in listed.json()["items"]}
    for url in (
        f"/medical-records/{rid}",
        f"/medical-records/{rid}/history",
        f"/medical-records/{rid}/versions/1",
    ):
        assert (await world.request("GET", url, OWNER)).status_code == 200, url
    created = await world.create(world.owners_pet, OWNER)
    assert created.status_code == 403, created.text
    await world.refused(rid, 403, world.patch(rid, {"title": "Mine now"}, OWNER, if_match='"1"'))
    await world.refused(
        rid,
        403,
        world.request(
            "POST",
            f"/medical-records/{rid}/entered-in-error",
            OWNER,
            if_match='"1"',
            json={"reason": "I disagree"},
        ),
    )
    await world.refused(
        rid, 403, world.request("POST", f"/medical-records/{rid}/sign", OWNER, if_match='"1"')
    )
    # Another owner's pet's record does not exist for them.
    other = await world.record(await world.pet())
    assert (await world.request("GET", f"/medical-records/{other['id']}", OWNER)).status_code == 404


async def test_records_of_a_shared_client_belong_to_their_authoring_practice(
    world: World,
) -> None:
    record = await world.record(world.owners_pet, HILLCREST_VET)
    rid = record["id"]
    assert record["practice_id"] == str(world.hillcrest)
    # Riverside sees the pet, so it reads the record; it did not write it.
    assert (await world.request("GET", f"/medical-records/{rid}", RIVERSIDE_VET)).status_code == 200
    await world.refused(rid, 403, world.patch(rid, {"title": "x"}, RIVERSIDE_VET, if_match='"1"'))
    await world.refused(
        rid, 403, world.patch(rid, {"title": "x"}, RIVERSIDE_MANAGER, if_match='"1"')
    )
    ok = await world.patch(rid, {"title": "Hillcrest edit"}, HILLCREST_VET, if_match='"1"')
    assert ok.status_code == 200, ok.text
    # Staff create on pets of their practice's clients only.
    hillcrest_only = await world.pet(HILLCREST_VET)
    refused = await world.create(hillcrest_only, RIVERSIDE_VET)
    assert refused.status_code == 404
    assert await world.count_records(hillcrest_only) == 0
    assert (await world.create(hillcrest_only, ADMIN)).status_code == 403


# --------------------------------------------------------------------------- idempotency


async def test_parallel_identical_creates_with_one_key_make_one_record(world: World) -> None:
    pet = await world.pet()
    url = f"{API}/pets/{pet}/medical-records"
    body = world.body(title="Idempotent check-up")
    headers = {**world.headers[RIVERSIDE_VET], "Idempotency-Key": f"record-{pet}"}

    responses = await asyncio.gather(
        *(world.client.post(url, json=body, headers=headers) for _ in range(10))
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    created = [r for r in responses if r.status_code == 201]
    assert created, statuses
    first = created[0].json()
    for response in created:
        assert response.json() == first
        assert response.headers["location"] == f"{API}/medical-records/{first['id']}"
        assert response.headers["etag"] == '"1"'
    for response in responses:
        if response.status_code == 409:
            assert response.headers["content-type"].startswith("application/problem+json")
    assert await world.count_records(pet) == 1

    retry = await world.client.post(url, json=body, headers=headers)
    assert retry.status_code == 201
    assert retry.json() == first
    assert retry.headers.get("idempotent-replayed") == "true"
    # The same key with another body is refused; still one record.
    other = await world.client.post(url, json={**body, "title": "Other"}, headers=headers)
    assert other.status_code == 422
    assert await world.count_records(pet) == 1
    assert await world.events(first["id"]) == [1]
