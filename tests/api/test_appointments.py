"""Appointments through the API: no double booking (also under 20 concurrent requests),
slots freed by cancelled / no-show, rescheduling with If-Match, the status machine,
the owner / pets / vet rules, practice-local days across DST, the list filters, and who
sees which appointment.

One app and one database for the module (demo data with its ~50 clients). Every test
books its own vet(s) (made for the test) on its own calendar days, so the tests do not
see each other's appointments and may run in any order.

Who sees what (from API.md and services/appointments.py):
- ``GET /practices/{id}/appointments``: the practice's staff and SYSTEM_ADMIN; other
  practices' staff and owners get 403 (practices are public, so not 404).
- ``GET /pet-owners/{owner_id}/appointments``: the owner's profile must be visible to the
  caller (else 404, like every out-of-scope object). A shared client is visible to the
  staff of both practices, and each practice's staff see *their own practice's*
  appointments of it only (200, possibly an empty list); the owner and SYSTEM_ADMIN see
  all of them.
- ``GET /appointments/{id}``: the practice's staff, the owner, SYSTEM_ADMIN; anyone else
  404 (another practice's staff even when the client is shared with them).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from httpx import Response
from sqlalchemy import func, select, text

from tests.api.auth_helpers import (
    ADMIN,
    API,
    HILLCREST_MANAGER,
    HILLCREST_TECH,
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
)
from tests.api.clients_helpers import assert_problem
from tests.fixtures.world import World, open_world
from vetchart.adapters.db.tables import appointments, audit_events
from vetchart.config import RateLimitSettings
from vetchart.domain.users import Role, User

pytestmark = pytest.mark.asyncio(loop_scope="module")

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
STATUSES = (
    "scheduled",
    "confirmed",
    "checked_in",
    "in_progress",
    "completed",
    "cancelled",
    "no_show",
)
# How to reach each status from "scheduled" (PRODUCT.md).
PATH_TO = {
    "scheduled": [],
    "confirmed": ["confirmed"],
    "checked_in": ["confirmed", "checked_in"],
    "in_progress": ["confirmed", "checked_in", "in_progress"],
    "completed": ["confirmed", "checked_in", "in_progress", "completed"],
    "cancelled": ["cancelled"],
    "no_show": ["no_show"],
}
LEGAL = {
    ("scheduled", "confirmed"),
    ("confirmed", "checked_in"),
    ("checked_in", "in_progress"),
    ("in_progress", "completed"),
    ("scheduled", "cancelled"),
    ("confirmed", "cancelled"),
    ("checked_in", "cancelled"),
    ("scheduled", "no_show"),
    ("confirmed", "no_show"),
}
_counter = itertools.count(1)


def at(day: date, hour: int, minute: int = 0, zone: ZoneInfo = LONDON, fold: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone, fold=fold)


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass
class Env:
    world: World
    users: dict[str, User]

    @property
    def client(self) -> Any:
        return self.world.client

    @property
    def container(self) -> Any:
        return self.world.app.state.container

    async def h(self, email: str) -> dict[str, str]:
        return await self.world.h(email)

    async def new_vet(self, practice_id: UUID, role: Role = Role.VET) -> UUID:
        """A staff user of the practice (a VET by default), made for one test."""
        now = self.container.clock.now()
        user = User(
            id=self.container.ids.new_id(),
            email=f"vet{next(_counter)}-{uuid.uuid4().hex[:6]}@example.com",
            full_name="Dr Test Vet",
            role=role,
            practice_id=practice_id,
            is_active=True,
            password_hash=self.users[OWNER].password_hash,
            mfa_enabled=False,
            created_at=now,
            updated_at=now,
            password_changed_at=now,
        )
        async with self.container.uow() as uow:
            await uow.users.add(user)
            await uow.commit()
        return user.id

    async def new_client(self, staff: str, pets: int = 1) -> tuple[str, list[dict[str, Any]]]:
        """A client of the staff member's practice (only), with pets."""
        owner = await self.world.create_owner(staff, full_name=f"Client {next(_counter)}")
        made = [
            await self.world.create_pet(staff, owner["id"], name=f"Pet {i} {next(_counter)}")
            for i in range(pets)
        ]
        return str(owner["id"]), made

    async def my_owner(self) -> tuple[str, list[str]]:
        """The demo OWNER's profile (a client of both practices) and its pets."""
        pets = await self.client.get(f"{API}/pets?limit=50", headers=await self.h(OWNER))
        items = pets.json()["items"]
        return str(items[0]["owner_id"]), [p["id"] for p in items]

    async def book(
        self,
        staff: str,
        practice_id: UUID,
        owner_id: str,
        pet_ids: list[str],
        vet_id: UUID | str,
        start_at: datetime,
        minutes: int = 30,
        **extra: Any,
    ) -> Response:
        body = {
            "pet_owner_id": owner_id,
            "pet_ids": pet_ids,
            "assigned_vet_id": str(vet_id),
            "start_at": start_at.isoformat(),
            "duration_minutes": minutes,
            "appointment_type": "checkup",
            "title": "Check-up",
            **extra,
        }
        return await self.client.post(  # type: ignore[no-any-return]
            f"{API}/practices/{practice_id}/appointments", json=body, headers=await self.h(staff)
        )

    async def booked(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        response = await self.book(*args, **kwargs)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def set_status(
        self, appointment_id: str, status: str, staff: str = RIVERSIDE_TECH
    ) -> Response:
        return await self.client.post(  # type: ignore[no-any-return]
            f"{API}/appointments/{appointment_id}/status",
            json={"status": status},
            headers=await self.h(staff),
        )

    async def get(self, appointment_id: str, email: str = RIVERSIDE_TECH) -> Response:
        return await self.client.get(  # type: ignore[no-any-return]
            f"{API}/appointments/{appointment_id}", headers=await self.h(email)
        )

    async def listed(
        self, practice_id: UUID, email: str = RIVERSIDE_TECH, **params: Any
    ) -> list[dict[str, Any]]:
        """Every item of the practice's list with these filters (following the cursor)."""
        items: list[dict[str, Any]] = []
        query = {k: str(v) for k, v in params.items() if v is not None}
        while True:
            response = await self.client.get(
                f"{API}/practices/{practice_id}/appointments",
                params=query,
                headers=await self.h(email),
            )
            assert response.status_code == 200, response.text
            items += response.json()["items"]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                return items
            query["cursor"] = cursor

    async def scalar(self, query: Any) -> Any:
        async with self.container.engine.connect() as conn:
            return await conn.scalar(query)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(pg_server_url: str, template_database: str) -> AsyncIterator[Env]:
    async with open_world(
        pg_server_url, template_database, "appts", rate_limit=RateLimitSettings(enabled=False)
    ) as world:
        await world.seed_demo()
        yield Env(world=world, users=world.users)


# --------------------------------------------------------------------------- no double booking


async def test_twenty_concurrent_overlapping_bookings_one_wins(env: Env) -> None:
    practice = env.world.riverside
    vet = await env.new_vet(practice)
    owner_id, pets = await env.my_owner()
    base = at(date(2026, 2, 2), 10)
    # Every slot overlaps every other: starts 0..19 minutes apart, 30 minutes long.
    requests = [
        env.book(RIVERSIDE_TECH, practice, owner_id, pets[:1], vet, base + timedelta(minutes=i))
        for i in range(20)
    ]
    responses = await asyncio.gather(*requests)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19, [r.text for r in responses if r.status_code >= 500]
    winner = next(r.json() for r in responses if r.status_code == 201)
    for response in responses:
        if response.status_code == 409:
            body = assert_problem(response, 409, "appointment-overlap")
            assert body["conflicting_appointment_id"] == winner["id"], body
            assert "SQL" not in body["detail"]
            assert "ex_appointments" not in response.text
    count = await env.scalar(
        select(func.count()).select_from(appointments).where(appointments.c.assigned_vet_id == vet)
    )
    assert count == 1
    # The losers left no audit row (a 409 is not audited); the winner exactly one.
    created = await env.scalar(
        select(func.count())
        .select_from(audit_events)
        .where(
            audit_events.c.action == "appointment.create",
            audit_events.c.resource_id == winner["id"],
        )
    )
    assert created == 1


async def test_touching_slots_other_vets_and_other_practices(env: Env) -> None:
    riverside, hillcrest = env.world.riverside, env.world.hillcrest
    vet, other_vet = await env.new_vet(riverside), await env.new_vet(riverside)
    hill_vet = await env.new_vet(hillcrest)
    owner_id, pets = await env.my_owner()
    day = date(2026, 2, 3)
    first = await env.booked(RIVERSIDE_TECH, riverside, owner_id, pets[:1], vet, at(day, 10, 0))
    # [10:00, 10:30) and [10:30, 11:00) touch: both are fine.
    second = await env.booked(RIVERSIDE_TECH, riverside, owner_id, pets[:1], vet, at(day, 10, 30))
    assert moment(first["end_at"]) == moment(second["start_at"])
    # [09:30, 10:00) touches the first from below.
    await env.booked(RIVERSIDE_TECH, riverside, owner_id, pets[:1], vet, at(day, 9, 30))
    # One minute into either neighbour is an overlap, naming that neighbour.
    for start_at, minutes, clash in (
        (at(day, 10, 29), 5, None),
        (at(day, 10, 5), 10, first["id"]),
        (at(day, 10, 45), 30, second["id"]),
        (at(day, 9, 0), 240, None),  # covers all three
    ):
        response = await env.book(
            RIVERSIDE_TECH, riverside, owner_id, pets[:1], vet, start_at, minutes
        )
        body = assert_problem(response, 409, "appointment-overlap")
        assert body["conflicting_appointment_id"] is not None
        if clash is not None:
            assert body["conflicting_appointment_id"] == clash
    # The same slot for another vet of the practice, and for a vet of another practice.
    await env.booked(RIVERSIDE_TECH, riverside, owner_id, pets[:1], other_vet, at(day, 10, 0))
    await env.booked(HILLCREST_TECH, hillcrest, owner_id, pets[:1], hill_vet, at(day, 10, 0))
    # The same pets twice at one time is the vets' business, not refused here.
    assert len(await env.listed(riverside, date=day)) == 4


async def test_cancelled_and_no_show_free_the_slot_completed_does_not(env: Env) -> None:
    practice = env.world.riverside
    vet = await env.new_vet(practice)
    owner_id, pets = await env.my_owner()
    slot = at(date(2026, 2, 4), 14, 0)

    async def book() -> Response:
        return await env.book(RIVERSIDE_TECH, practice, owner_id, pets[:1], vet, slot)

    first = (await book()).json()
    assert_problem(await book(), 409, "appointment-overlap")
    assert (await env.set_status(first["id"], "cancelled")).status_code == 200
    second = await book()
    assert second.status_code == 201, second.text

    assert (await env.set_status(second.json()["id"], "no_show")).status_code == 200
    third = await book()
    assert third.status_code == 201, third.text

    # Completed (and every status on the way) still holds the slot.
    for step in PATH_TO["completed"]:
        moved = await env.set_status(third.json()["id"], step)
        assert moved.status_code == 200, moved.text
        assert_problem(await book(), 409, "appointment-overlap")
    # A freed slot is not taken back by its cancelled appointment.
    again = await env.set_status(first["id"], "scheduled")
    assert_problem(again, 409, "appointment-status")
    statuses = [a["status"] for a in await env.listed(practice, date=slot.date(), vet_id=vet)]
    assert sorted(statuses) == ["cancelled", "completed", "no_show"]


# --------------------------------------------------------------------------- rescheduling


async def test_rescheduling_needs_if_match_and_a_free_slot(env: Env) -> None:
    practice = env.world.riverside
    vet, vet2 = await env.new_vet(practice), await env.new_vet(practice)
    owner_id, pets = await env.my_owner()
    day = date(2026, 2, 5)
    a = await env.booked(RIVERSIDE_TECH, practice, owner_id, pets[:1], vet, at(day, 10))
    b = await env.booked(RIVERSIDE_TECH, practice, owner_id, pets[:1], vet, at(day, 11))
    busy2 = await env.booked(RIVERSIDE_TECH, practice, owner_id, pets[:1], vet2, at(day, 15))
    url = f"{API}/appointments/{b['id']}"
    tech = await env.h(RIVERSIDE_TECH)
    into_a = {"start_at": at(day, 10, 15).isoformat()}

    assert_problem(await env.client.patch(url, json=into_a, headers=tech), 428)
    stale = await env.client.patch(url, json=into_a, headers={**tech, "If-Match": '"7"'})
    assert_problem(stale, 412)
    clash = await env.client.patch(url, json=into_a, headers={**tech, "If-Match": '"1"'})
    assert clash.json()["conflicting_appointment_id"] == a["id"]
    assert_problem(clash, 409, "appointment-overlap")
    # Longer, so that it would run into A: also an overlap.
    longer = await env.client.patch(
        url,
        json={"start_at": at(day, 9, 0).isoformat(), "duration_minutes": 90},
        headers={**tech, "If-Match": '"1"'},
    )
    assert_problem(longer, 409, "appointment-overlap")
    # Nothing changed by the refusals.
    unchanged = await env.get(b["id"])
    assert unchanged.headers["etag"] == '"1"'
    assert moment(unchanged.json()["start_at"]) == at(day, 11)

    moved = await env.client.patch(
        url, json={"start_at": at(day, 12).isoformat()}, headers={**tech, "If-Match": '"1"'}
    )
    assert moved.status_code == 200, moved.text
    assert moved.headers["etag"] == '"2"'
    assert moved.json()["version"] == 2
    assert moment(moved.json()["start_at"]) == at(day, 12)
    assert moment(moved.json()["end_at"]) == at(day, 12, 30)
    # The old slot is free again; the old ETag is stale now.
    await env.booked(RIVERSIDE_TECH, practice, owner_id, pets[:1], vet, at(day, 11))
    old = await env.client.patch(url, json={"title": "x"}, headers={**tech, "If-Match": '"1"'})
    assert_problem(old, 412)

    # Another vet: refused while that vet is busy, fine at a free time.
    to_vet2 = {"assigned_vet_id": str(vet2), "start_at": at(day, 15, 10).isoformat()}
    busy = await env.client.patch(url, json=to_vet2, headers={**tech, "If-Match": '"2"'})
    assert assert_problem(busy, 409)["conflicting_appointment_id"] == busy2["id"]
    to_vet2["start_at"] = at(day, 16).isoformat()
    handed = await env.client.patch(url, json=to_vet2, headers={**tech, "If-Match": '"2"'})
    assert handed.status_code == 200, handed.text
    assert handed.json()["assigned_vet_id"] == str(vet2)

    # Once started, time, vet and pets are fixed (409); the title may still change.
    for step in ("confirmed", "checked_in"):
        assert (await env.set_status(b["id"], step)).status_code == 200
    current = (await env.get(b["id"])).headers["etag"]
    late = await env.client.patch(
        url, json={"start_at": at(day, 17).isoformat()}, headers={**tech, "If-Match": current}
    )
    assert_problem(late, 409, "appointment-not-editable")
    renamed = await env.client.patch(
        url, json={"title": "  Renamed   visit "}, headers={**tech, "If-Match": current}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["title"] == "Renamed visit"
    # Explicit nulls for required fields, and unknown fields, are refused.
    etag = renamed.headers["etag"]
    for body in ({"title": None}, {"start_at": None}, {"appointment_type": None}, {"x": 1}):
        refused = await env.client.patch(url, json=body, headers={**tech, "If-Match": etag})
        assert_problem(refused, 422)
    # The owner can read it but not change it (403); another practice cannot see it (404).
    owner_patch = await env.client.patch(
        url, json={"title": "Mine"}, headers={**await env.h(OWNER), "If-Match": etag}
    )
    assert_problem(owner_patch, 403)
    hill_patch = await env.client.patch(
        url, json={"title": "Ours"}, headers={**await env.h(HILLCREST_VET), "If-Match": etag}
    )
    assert_problem(hill_patch, 404)


# --------------------------------------------------------------------------- status machine


async def test_every_transition_through_the_api(env: Env) -> None:
    practice = env.world.riverside
    vet = await env.new_vet(practice)
    owner_id, pets = await env.my_owner()
    # Back-entry: these start in the past, which is allowed.
    slots = (at(date(2026, 2, 6), 0) + timedelta(minutes=30 * i) for i in itertools.count())

    async def in_status(status: str) -> dict[str, Any]:
        booked = await env.booked(RIVERSIDE_TECH, practice, owner_id, pets[:1], vet, next(slots))
        for step in PATH_TO[status]:
            moved = await env.set_status(booked["id"], step)
            assert moved.status_code == 200, moved.text
        return dict((await env.get(booked["id"])).json())

    async def status_changes(appointment_id: str) -> int:
        return int(
            await env.scalar(
                select(func.count())
                .select_from(audit_events)
                .where(
                    audit_events.c.action == "appointment.status_change",
                    audit_events.c.resource_id == appointment_id,
                )
            )
        )

    # One appointment per source status takes every illegal move (none changes it).
    for source in STATUSES:
        subject = await in_status(source)
        audited = await status_changes(subject["id"])
        for target in STATUSES:
            if (source, target) in LEGAL:
                continue
            response = await env.set_status(subject["id"], target)
            body = assert_problem(response, 409, "appointment-status")
            assert source in body["detail"], body
            after = (await env.get(subject["id"])).json()
            assert after == subject, (source, target)
        assert await status_changes(subject["id"]) == audited
    # A fresh appointment for every legal move.
    for source, target in sorted(LEGAL):
        subject = await in_status(source)
        response = await env.set_status(subject["id"], target)
        assert response.status_code == 200, (source, target, response.text)
        assert response.json()["status"] == target
        assert response.json()["version"] == subject["version"] + 1
        assert response.headers["etag"] == f'"{subject["version"] + 1}"'
        assert (await env.get(subject["id"])).json()["status"] == target
    # Unknown statuses are a validation error; the owner and SYSTEM_ADMIN may not move it.
    subject = await in_status("scheduled")
    assert_problem(await env.set_status(subject["id"], "done"), 422)
    assert_problem(await env.set_status(subject["id"], "confirmed", OWNER), 403)
    assert_problem(await env.set_status(subject["id"], "confirmed", ADMIN), 403)
    assert_problem(await env.set_status(subject["id"], "confirmed", HILLCREST_TECH), 404)
    assert (await env.set_status(subject["id"], "confirmed", RIVERSIDE_VET)).status_code == 200
    assert (await env.set_status(subject["id"], "checked_in", RIVERSIDE_MANAGER)).status_code == 200


# --------------------------------------------------------------------------- booking rules


async def test_pets_must_be_active_pets_of_the_owner(env: Env) -> None:
    practice = env.world.riverside
    vet = await env.new_vet(practice)
    slot = at(date(2026, 2, 9), 9)
    owner_id, pets = await env.new_client(RIVERSIDE_TECH, pets=2)
    _, other_pets = await env.new_client(RIVERSIDE_TECH)
    pet_ids = [p["id"] for p in pets]

    def book(owner: str, chosen: list[str]) -> Any:
        return env.book(RIVERSIDE_TECH, practice, owner, chosen, vet, slot)

    for chosen in (
        [other_pets[0]["id"]],
        [pet_ids[0], other_pets[0]["id"]],
        [str(uuid.uuid4())],
    ):
        body = assert_problem(await book(owner_id, chosen), 422)
        assert body["field"] == "pet_ids", body
    assert_problem(await book(owner_id, []), 422)
    # An owner who is not a client of this practice (a Hillcrest-only client).
    hill_owner, hill_pets = await env.new_client(HILLCREST_TECH)
    body = assert_problem(await book(hill_owner, [hill_pets[0]["id"]]), 422)
    assert body["field"] == "pet_owner_id"
    assert_problem(await book(str(uuid.uuid4()), pet_ids[:1]), 422)
    # A deactivated pet cannot be booked.
    deactivated = await env.client.post(
        f"{API}/pets/{pet_ids[1]}/deactivate", headers=await env.h(RIVERSIDE_TECH)
    )
    assert deactivated.status_code == 200, deactivated.text
    assert_problem(await book(owner_id, pet_ids), 422)
    assert (
        await env.scalar(
            select(func.count())
            .select_from(appointments)
            .where(appointments.c.assigned_vet_id == vet)
        )
        == 0
    )
    # Both pets, listed once each (duplicates collapse), with names and the owner.
    await env.client.post(
        f"{API}/pets/{pet_ids[1]}/reactivate", headers=await env.h(RIVERSIDE_TECH)
    )
    made = await book(owner_id, [pet_ids[1], pet_ids[0], pet_ids[1]])
    assert made.status_code == 201, made.text
    assert sorted(made.json()["pet_ids"]) == sorted(pet_ids)
    assert {p["id"] for p in made.json()["pets"]} == set(pet_ids)
    assert {p["name"] for p in made.json()["pets"]} == {p["name"] for p in pets}
    assert all(p["species"] == "dog" for p in made.json()["pets"])
    assert made.json()["owner"]["id"] == owner_id
    assert made.json()["owner"]["full_name"].startswith("Client ")
    assert made.headers["location"] == f"/api/v1/appointments/{made.json()['id']}"
    assert made.headers["etag"] == '"1"'
    # PATCH swaps the pets under the same rule.
    url = f"{API}/appointments/{made.json()['id']}"
    tech = {**await env.h(RIVERSIDE_TECH), "If-Match": '"1"'}
    wrong = await env.client.patch(url, json={"pet_ids": [other_pets[0]["id"]]}, headers=tech)
    assert_problem(wrong, 422)
    fewer = await env.client.patch(url, json={"pet_ids": pet_ids[:1]}, headers=tech)
    assert fewer.status_code == 200, fewer.text
    assert fewer.json()["pet_ids"] == pet_ids[:1]
    assert [p["id"] for p in fewer.json()["pets"]] == pet_ids[:1]


async def test_the_assigned_vet_must_be_an_active_vet_of_the_practice(env: Env) -> None:
    practice = env.world.riverside
    owner_id, pets = await env.my_owner()
    slot = at(date(2026, 2, 10), 9)
    tech_vet = await env.new_vet(practice, role=Role.VET_STAFF)
    candidates = {
        "a technician": env.users[RIVERSIDE_TECH].id,
        "a practice admin": env.users[RIVERSIDE_MANAGER].id,
        "another practice's vet": env.users[HILLCREST_VET].id,
        "a pet owner": env.users[OWNER].id,
        "a system admin": env.users[ADMIN].id,
        "a new VET_STAFF": tech_vet,
        "nobody": uuid.uuid4(),
    }
    for who, user_id in candidates.items():
        response = await env.book(RIVERSIDE_TECH, practice, owner_id, pets[:1], user_id, slot)
        body = assert_problem(response, 422)
        assert body["field"] == "assigned_vet_id", (who, body)
    # A vet of the practice is fine; another practice's staff may not book here at all.
    ok = await env.book(
        RIVERSIDE_TECH, practice, owner_id, pets[:1], env.users[RIVERSIDE_VET].id, slot
    )
    assert ok.status_code == 201, ok.text
    other = await env.book(
        HILLCREST_TECH, practice, owner_id, pets[:1], env.users[RIVERSIDE_VET].id, slot
    )
    assert_problem(other, 403)
    for email in (OWNER, ADMIN):
        refused = await env.book(
            email, practice, owner_id, pets[:1], env.users[RIVERSIDE_VET].id, slot
        )
        assert_problem(refused, 403)
    # Input rules: an offset is required, durations 5..720 minutes, known types only.
    naive = await env.client.post(
        f"{API}/practices/{practice}/appointments",
        json={
            "pet_owner_id": owner_id,
            "pet_ids": pets[:1],
            "assigned_vet_id": str(env.users[RIVERSIDE_VET].id),
            "start_at": "2026-02-10T12:00:00",
            "duration_minutes": 30,
            "title": "Naive",
        },
        headers=await env.h(RIVERSIDE_TECH),
    )
    assert_problem(naive, 422)
    for extra in ({"duration_minutes": 4}, {"duration_minutes": 721}, {"appointment_type": "spa"}):
        bad = await env.book(
            RIVERSIDE_TECH,
            practice,
            owner_id,
            pets[:1],
            env.users[RIVERSIDE_VET].id,
            at(date(2026, 2, 10), 13),
            **extra,
        )
        assert_problem(bad, 422)


# --------------------------------------------------------------------------- days and filters


async def test_practice_local_days_across_the_autumn_change(env: Env) -> None:
    """Riverside is Europe/London: 25 October 2026 is 25 hours long (01:00-02:00 twice)."""
    practice = env.world.riverside
    shown = await env.client.get(f"{API}/practices/{practice}", headers=await env.h(RIVERSIDE_TECH))
    assert shown.json()["timezone"] == "Europe/London"
    vet = await env.new_vet(practice)
    owner_id, pets = await env.my_owner()
    sat, sun, mon = date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)
    times = {
        "sat 00:30": at(sat, 0, 30),
        "sat 23:30": at(sat, 23, 30),  # 22:30 UTC
        "sun 00:30": at(sun, 0, 30),  # 23:30 UTC on Saturday
        "sun 01:30 BST": at(sun, 1, 30, fold=0),  # 00:30 UTC
        "sun 01:30 GMT": at(sun, 1, 30, fold=1),  # 01:30 UTC, the hour again
        "sun 23:30": at(sun, 23, 30),  # 23:30 UTC
        "mon 00:30": at(mon, 0, 30),
        "mon 23:30": at(mon, 23, 30),
    }
    # (Same-zone subtraction would ignore fold: compare in UTC.)
    gap = times["sun 01:30 GMT"].astimezone(UTC) - times["sun 01:30 BST"].astimezone(UTC)
    assert gap == timedelta(hours=1)
    ids = {
        label: (await env.booked(RIVERSIDE_TECH, practice, owner_id, pets[:1], vet, when))["id"]
        for label, when in times.items()
    }
    for day, expected in (
        (sat, ["sat 00:30", "sat 23:30"]),
        (sun, ["sun 00:30", "sun 01:30 BST", "sun 01:30 GMT", "sun 23:30"]),
        (mon, ["mon 00:30", "mon 23:30"]),
    ):
        listed = await env.listed(practice, date=day.isoformat())
        assert [item["id"] for item in listed] == [ids[label] for label in expected], day
        # (In UTC: PEP 495 makes ambiguous local times unequal to everything in other zones.)
        assert [moment(item["start_at"]) for item in listed] == [
            times[x].astimezone(UTC) for x in expected
        ]
    # The spring change: 29 March 2026 is 23 hours long (01:00-02:00 does not exist).
    spring = date(2026, 3, 29)
    early = await env.booked(RIVERSIDE_TECH, practice, owner_id, pets[:1], vet, at(spring, 0, 30))
    late = await env.booked(RIVERSIDE_TECH, practice, owner_id, pets[:1], vet, at(spring, 23, 30))
    before = await env.booked(
        RIVERSIDE_TECH, practice, owner_id, pets[:1], vet, at(date(2026, 3, 28), 23, 30)
    )
    listed = await env.listed(practice, date=spring.isoformat())
    assert [item["id"] for item in listed] == [early["id"], late["id"]]
    assert moment(late["start_at"]) == datetime(2026, 3, 29, 22, 30, tzinfo=UTC)
    assert before["id"] not in {i["id"] for i in await env.listed(practice, date=spring)}
    # `date` and `from`/`to` together: the intersection.
    both = await env.listed(
        practice,
        date=sun.isoformat(),
        **{"from": datetime(2026, 10, 25, 0, 30, tzinfo=UTC).isoformat()},
    )
    assert [i["id"] for i in both] == [ids["sun 01:30 BST"], ids["sun 01:30 GMT"], ids["sun 23:30"]]


async def test_practice_local_days_in_new_york(env: Env) -> None:
    """Hillcrest is America/New_York: 1 November 2026 is 25 hours long."""
    practice = env.world.hillcrest
    vet = await env.new_vet(practice)
    owner_id, pets = await env.my_owner()
    day = date(2026, 11, 1)
    early = await env.booked(
        HILLCREST_TECH, practice, owner_id, pets[:1], vet, at(day, 0, 30, NEW_YORK)
    )
    late = await env.booked(
        HILLCREST_TECH, practice, owner_id, pets[:1], vet, at(day, 23, 30, NEW_YORK)
    )
    before = await env.booked(
        HILLCREST_TECH, practice, owner_id, pets[:1], vet, at(date(2026, 10, 31), 23, 30, NEW_YORK)
    )
    after = await env.booked(
        HILLCREST_TECH, practice, owner_id, pets[:1], vet, at(date(2026, 11, 2), 0, 30, NEW_YORK)
    )
    listed = await env.listed(practice, HILLCREST_TECH, date=day.isoformat())
    assert [i["id"] for i in listed] == [early["id"], late["id"]]
    # In UTC, 23:30 New York time on 1 November is 04:30 on 2 November.
    assert moment(late["start_at"]) == datetime(2026, 11, 2, 4, 30, tzinfo=UTC)
    assert {before["id"], after["id"]}.isdisjoint(i["id"] for i in listed)


async def test_range_vet_and_status_filters(env: Env) -> None:
    practice = env.world.riverside
    vet_a, vet_b = await env.new_vet(practice), await env.new_vet(practice)
    owner_id, pets = await env.my_owner()
    day = date(2026, 2, 11)
    made: dict[str, dict[str, Any]] = {}
    for label, vet, hour in (
        ("a9", vet_a, 9),
        ("a10", vet_a, 10),
        ("a11", vet_a, 11),
        ("b9", vet_b, 9),
        ("b10", vet_b, 10),
    ):
        made[label] = await env.booked(
            RIVERSIDE_TECH, practice, owner_id, pets[:1], vet, at(day, hour)
        )
    await env.set_status(made["a10"]["id"], "confirmed")
    await env.set_status(made["b10"]["id"], "cancelled")

    def names(items: list[dict[str, Any]]) -> list[str]:
        by_id = {v["id"]: k for k, v in made.items()}
        return [by_id[i["id"]] for i in items]

    everything = await env.listed(practice, date=day)
    # Ordered by start_at (then id): 9:00 twice, 10:00 twice, 11:00.
    assert sorted(names(everything)) == sorted(made)
    starts = [moment(i["start_at"]) for i in everything]
    assert starts == sorted(starts)
    # [from, to): from inclusive, to exclusive.
    window = {"from": at(day, 10).isoformat(), "to": at(day, 11).isoformat()}
    assert sorted(names(await env.listed(practice, **window))) == ["a10", "b10"]
    assert sorted(
        names(
            await env.listed(
                practice, **{"from": at(day, 10, 1).isoformat(), "to": at(day, 11, 1).isoformat()}
            )
        )
    ) == ["a11"]
    assert names(await env.listed(practice, vet_id=vet_a, date=day)) == ["a9", "a10", "a11"]
    assert names(await env.listed(practice, vet_id=vet_b, status="cancelled")) == ["b10"]
    assert names(await env.listed(practice, status="confirmed", date=day)) == ["a10"]
    assert names(await env.listed(practice, status="scheduled", vet_id=vet_a, **window)) == []
    assert await env.listed(practice, vet_id=uuid.uuid4()) == []
    # Each item carries its pets and owner.
    item = everything[0]
    assert item["pet_ids"] == pets[:1]
    assert item["pets"][0]["id"] == pets[0]
    assert item["pets"][0]["name"]
    assert item["owner"]["id"] == owner_id
    # Pages of one walk the same list; a cursor is bound to its filters.
    first = await env.client.get(
        f"{API}/practices/{practice}/appointments",
        params={"date": day.isoformat(), "limit": 1},
        headers=await env.h(RIVERSIDE_TECH),
    )
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    other = await env.client.get(
        f"{API}/practices/{practice}/appointments",
        params={"date": day.isoformat(), "vet_id": str(vet_a), "cursor": cursor},
        headers=await env.h(RIVERSIDE_TECH),
    )
    assert_problem(other, 400)
    # Bad filters are validation errors.
    for params in (
        {"from": "2026-02-11T10:00:00"},  # no offset
        {"date": "11/02/2026"},
        {"status": "done"},
        {"vet_id": "nope"},
        {"limit": 0},
    ):
        refused = await env.client.get(
            f"{API}/practices/{practice}/appointments",
            params=params,
            headers=await env.h(RIVERSIDE_TECH),
        )
        assert_problem(refused, 422)
    # Other practices' staff and owners may not list (403); SYSTEM_ADMIN may.
    for email in (HILLCREST_TECH, HILLCREST_MANAGER, OWNER):
        response = await env.client.get(
            f"{API}/practices/{practice}/appointments", headers=await env.h(email)
        )
        assert_problem(response, 403)
    assert len(await env.listed(practice, ADMIN, date=day)) == 5


# --------------------------------------------------------------------------- who sees what


async def test_owner_lists_and_single_reads(env: Env) -> None:
    riverside, hillcrest = env.world.riverside, env.world.hillcrest
    river_vet, hill_vet = await env.new_vet(riverside), await env.new_vet(hillcrest)
    mine, my_pets = await env.my_owner()
    day = date(2026, 2, 12)
    at_riverside = await env.booked(
        RIVERSIDE_TECH, riverside, mine, my_pets[:1], river_vet, at(day, 9)
    )
    at_hillcrest = await env.booked(
        HILLCREST_TECH, hillcrest, mine, my_pets[:1], hill_vet, at(day, 9, 0, NEW_YORK)
    )
    solo, solo_pets = await env.new_client(RIVERSIDE_TECH)
    solo_booking = await env.booked(
        RIVERSIDE_TECH, riverside, solo, [solo_pets[0]["id"]], river_vet, at(day, 11)
    )
    # Another PET_OWNER with a profile and a pet of their own.
    stranger = f"stranger{next(_counter)}@example.com"
    await env.world.new_pet_owner_user(stranger)
    own_profile = await env.world.create_owner(stranger, full_name="Sam Stranger")
    await env.world.create_pet(stranger, own_profile["id"], name="Pip")

    async def owner_list(owner_id: str, email: str) -> Response:
        return await env.client.get(  # type: ignore[no-any-return]
            f"{API}/pet-owners/{owner_id}/appointments",
            params={"limit": 200},
            headers=await env.h(email),
        )

    async def expected(owner_id: str, practice: UUID | None) -> list[str]:
        query = "SELECT id FROM appointments WHERE pet_owner_id = :o"
        if practice is not None:
            query += " AND practice_id = :p"
        query += " ORDER BY start_at, id"
        async with env.container.engine.connect() as conn:
            rows = await conn.execute(text(query), {"o": owner_id, "p": practice})
            return [str(row[0]) for row in rows]

    # The demo owner's profile is a client of both practices.
    for email, practice in (
        (OWNER, None),
        (ADMIN, None),
        (RIVERSIDE_TECH, riverside),
        (RIVERSIDE_VET, riverside),
        (HILLCREST_TECH, hillcrest),
        (HILLCREST_MANAGER, hillcrest),
    ):
        response = await owner_list(mine, email)
        assert response.status_code == 200, (email, response.text)
        ids = [item["id"] for item in response.json()["items"]]
        assert ids == await expected(mine, practice), email
        assert at_riverside["id"] in ids or practice == hillcrest
        assert at_hillcrest["id"] in ids or practice == riverside
    # A Riverside-only client: invisible (404) to Hillcrest and to other owners.
    river = await owner_list(solo, RIVERSIDE_TECH)
    assert [i["id"] for i in river.json()["items"]] == [solo_booking["id"]]
    for email in (HILLCREST_TECH, HILLCREST_VET, OWNER, stranger):
        assert_problem(await owner_list(solo, email), 404)
    assert_problem(await owner_list(str(uuid.uuid4()), RIVERSIDE_TECH), 404)
    stranger_own = await owner_list(own_profile["id"], stranger)
    assert stranger_own.status_code == 200
    assert stranger_own.json()["items"] == []

    # Single reads.
    for email, visible in (
        (RIVERSIDE_TECH, True),
        (RIVERSIDE_MANAGER, True),
        (OWNER, True),
        (ADMIN, True),
        (HILLCREST_TECH, False),  # the client is shared, the appointment is not
        (HILLCREST_VET, False),
        (stranger, False),
    ):
        response = await env.get(at_riverside["id"], email)
        if visible:
            assert response.status_code == 200, (email, response.text)
            assert response.headers["etag"] == '"1"'
            assert response.json()["id"] == at_riverside["id"]
        else:
            body = assert_problem(response, 404)
            missing = assert_problem(await env.get(str(uuid.uuid4()), email), 404)
            per_request = {"request_id", "instance"}
            assert {k: v for k, v in body.items() if k not in per_request} == {
                k: v for k, v in missing.items() if k not in per_request
            }
    assert (await env.get(at_hillcrest["id"], HILLCREST_TECH)).status_code == 200
    assert_problem(await env.get(at_hillcrest["id"], RIVERSIDE_TECH), 404)
    assert_problem(await env.get(solo_booking["id"], OWNER), 404)
    anonymous = await env.client.get(f"{API}/appointments/{at_riverside['id']}")
    assert anonymous.status_code == 401


async def test_idempotent_booking(env: Env) -> None:
    """A retried booking with the same Idempotency-Key gets the first answer, not a 409."""
    practice = env.world.riverside
    vet = await env.new_vet(practice)
    owner_id, pets = await env.my_owner()
    body = {
        "pet_owner_id": owner_id,
        "pet_ids": pets[:1],
        "assigned_vet_id": str(vet),
        "start_at": at(date(2026, 2, 13), 9).isoformat(),
        "duration_minutes": 30,
        "title": "Retry me",
    }
    headers = {**await env.h(RIVERSIDE_TECH), "Idempotency-Key": uuid.uuid4().hex}
    url = f"{API}/practices/{practice}/appointments"
    first = await env.client.post(url, json=body, headers=headers)
    again = await env.client.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert first.json() == again.json()
    changed = await env.client.post(url, json={**body, "title": "Other"}, headers=headers)
    assert_problem(changed, 422)
    assert len(await env.listed(practice, vet_id=vet)) == 1
