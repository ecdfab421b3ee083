"""GET /dashboard/today: the caller's practice today (in the practice's timezone): its
appointments with pets and owners, follow-ups due and visits awaiting review; in a
constant number of statements; briefly cached, and invalidated by changes; staff only;
every read audited.

"Today" comes from the real clock. So that a test never straddles the practice's
midnight, each test first moves Riverside to a timezone where it is around noon now
(PATCH /practices/{id} as its PRACTICE_ADMIN); the day's appointments are booked from
local 06:00, and the neighbours at 23:30 yesterday and 00:30 tomorrow, local time.

Follow-ups and visits are the practice's (the ``vet_id`` filter narrows the appointments
only). No API sets a visit's summary yet (the summary job does), so the tests put visits
into ``processed`` with a summary through SQL.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import update

from tests.api.audit_checks import audit_rows
from tests.api.auth_helpers import (
    ADMIN,
    API,
    HILLCREST_TECH,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    cheap_auth,
    running_app,
)
from tests.api.clients_helpers import assert_problem, deliver_events
from tests.api.sql_counter import count_statements
from tests.conftest import make_settings
from tests.fixtures.world import World, start
from vetchart.adapters.db.tables import practice_associations, visits
from vetchart.config import ApiSettings, RateLimitSettings
from vetchart.domain.users import Role, User

# Spread around the globe, at most ~3 hours apart: one of them is near noon now.
ZONES = (
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/Chicago",
    "America/Sao_Paulo",
    "Atlantic/Azores",
    "Europe/London",
    "Europe/Athens",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Bangkok",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)
_counter = itertools.count(1)


def near_noon_zone() -> str:
    now = datetime.now(UTC)

    def distance(zone: str) -> float:
        local = now.astimezone(ZoneInfo(zone))
        return abs(local.hour + local.minute / 60 - 12)

    return min(ZONES, key=distance)


@dataclass
class Day:
    """A test's practice and its local today."""

    world: World
    app: FastAPI
    client: AsyncClient
    zone: ZoneInfo
    today: date
    owners: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def local(self, hour: int, minute: int = 0, days: int = 0) -> datetime:
        day = self.today + timedelta(days=days)
        return datetime.combine(day, time(hour, minute), tzinfo=self.zone)

    async def h(self, email: str) -> dict[str, str]:
        return await self.world.h(email)

    async def new_vet(self, practice_id: UUID) -> UUID:
        container = self.app.state.container
        now = container.clock.now()
        user = User(
            id=container.ids.new_id(),
            email=f"dashvet{next(_counter)}-{uuid.uuid4().hex[:6]}@example.com",
            full_name="Dr Dash",
            role=Role.VET,
            practice_id=practice_id,
            is_active=True,
            password_hash=self.world.users[OWNER].password_hash,
            mfa_enabled=False,
            created_at=now,
            updated_at=now,
            password_changed_at=now,
        )
        async with container.uow() as uow:
            await uow.users.add(user)
            await uow.commit()
        return user.id

    async def new_client(self, staff: str, pets: int) -> tuple[str, list[dict[str, Any]]]:
        owner = await self.world.create_owner(staff, full_name=f"Dash Client {next(_counter)}")
        made = [
            await self.world.create_pet(
                staff, owner["id"], name=f"Dash Pet {next(_counter)}", species="cat"
            )
            for _ in range(pets)
        ]
        return str(owner["id"]), made

    async def book(
        self,
        vet: UUID,
        start_at: datetime,
        *,
        client_index: int = 0,
        pets: int = 1,
        staff: str = RIVERSIDE_TECH,
        practice: UUID | None = None,
        minutes: int = 15,
    ) -> dict[str, Any]:
        owner_id, owner_pets = self.owners[client_index]
        body = {
            "pet_owner_id": owner_id,
            "pet_ids": [p["id"] for p in owner_pets[:pets]],
            "assigned_vet_id": str(vet),
            "start_at": start_at.isoformat(),
            "duration_minutes": minutes,
            "title": f"Slot {next(_counter)}",
        }
        response = await self.client.post(
            f"{API}/practices/{practice or self.world.riverside}/appointments",
            json=body,
            headers=await self.h(staff),
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def record(
        self, pet_id: str, follow_up: date | None, email: str = RIVERSIDE_VET
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "record_type": "checkup",
            "title": f"Record {next(_counter)}",
            "visit_date": (self.today - timedelta(days=20)).isoformat(),
        }
        if follow_up is not None:
            body |= {"follow_up_required": True, "follow_up_date": follow_up.isoformat()}
        response = await self.client.post(
            f"{API}/pets/{pet_id}/medical-records", json=body, headers=await self.h(email)
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def visit(
        self,
        pet_id: str,
        *,
        state: str = "processed",
        summary: bool = True,
        record_id: str | None = None,
        email: str = RIVERSIDE_TECH,
    ) -> dict[str, Any]:
        response = await self.client.post(
            f"{API}/pets/{pet_id}/visits",
            json={
                "visit_date": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                "transcript_text": "Bright and alert.",
            },
            headers=await self.h(email),
        )
        assert response.status_code == 201, response.text
        made = dict(response.json())
        async with self.app.state.container.engine.begin() as conn:
            await conn.execute(
                update(visits)
                .where(visits.c.id == UUID(made["id"]))
                .values(
                    state=state,
                    summary={"text": "Draft summary", "model": "test"} if summary else None,
                    summary_record_id=UUID(record_id) if record_id else None,
                )
            )
        return made

    async def dashboard(self, email: str = RIVERSIDE_TECH, **params: Any) -> Response:
        return await self.client.get(
            f"{API}/dashboard/today",
            params={k: str(v) for k, v in params.items()},
            headers=await self.h(email),
        )

    async def counted(self, email: str = RIVERSIDE_TECH, **params: Any) -> tuple[Response, int]:
        headers = await self.h(email)  # signed in before counting
        with count_statements(self.app) as counter:
            response = await self.client.get(
                f"{API}/dashboard/today",
                params={k: str(v) for k, v in params.items()},
                headers=headers,
            )
        assert response.status_code == 200, response.text
        return response, counter.count


async def _new_day(app: FastAPI, client: AsyncClient) -> Day:
    world = await start(app, client)
    zone = near_noon_zone()
    moved = await client.patch(
        f"{API}/practices/{world.riverside}",
        json={"timezone": zone},
        headers=await world.h(RIVERSIDE_MANAGER),
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["timezone"] == zone
    today = datetime.now(ZoneInfo(zone)).date()
    day = Day(world=world, app=app, client=client, zone=ZoneInfo(zone), today=today)
    for pets in (1, 2, 3):
        day.owners.append(await day.new_client(RIVERSIDE_TECH, pets))
    return day


def _app_settings(database_url: str, cache_seconds: float) -> Any:
    return make_settings(
        database_url,
        api=ApiSettings(dashboard_cache_seconds=cache_seconds),
        # Count the session lookup every time (no in-process principal cache).
        auth=cheap_auth(session_cache_seconds=0),
        rate_limit=RateLimitSettings(enabled=False),
    )


@pytest.fixture
async def uncached(database_url: str) -> AsyncIterator[Day]:
    """Riverside near noon; dashboards never cached."""
    async with running_app(_app_settings(database_url, 0), database_url) as (app, client):
        yield await _new_day(app, client)


@pytest.fixture
async def cached(database_url: str) -> AsyncIterator[Day]:
    """Riverside near noon; the default 15-second dashboard cache."""
    async with running_app(_app_settings(database_url, 15), database_url) as (app, client):
        yield await _new_day(app, client)


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


# --------------------------------------------------------------------------- content


async def test_today_in_the_practice_timezone_with_pets_owners_follow_ups_and_visits(
    uncached: Day,
) -> None:
    d = uncached
    riverside, hillcrest = d.world.riverside, d.world.hillcrest
    vet_a, vet_b = await d.new_vet(riverside), await d.new_vet(riverside)
    a1 = await d.book(vet_a, d.local(6), pets=2)
    a2 = await d.book(vet_a, d.local(7), client_index=1, pets=2)
    b1 = await d.book(vet_b, d.local(6, 30), client_index=2, pets=3)
    # Neighbouring days (local time) are not today.
    yesterday = await d.book(vet_a, d.local(23, 30, days=-1))
    tomorrow = await d.book(vet_a, d.local(0, 30, days=1))
    # Another practice's appointment today.
    hill_owner = await d.new_client(HILLCREST_TECH, 1)
    d.owners.append(hill_owner)
    hill_vet = await d.new_vet(hillcrest)
    hill = await d.book(
        hill_vet, d.local(6), client_index=3, staff=HILLCREST_TECH, practice=hillcrest
    )

    pet = d.owners[0][1][0]["id"]
    due_yesterday = await d.record(pet, d.today - timedelta(days=1))
    due_today = await d.record(pet, d.today)
    await d.record(pet, d.today + timedelta(days=3))  # not due yet
    await d.record(pet, None)  # no follow-up
    wrong = await d.record(pet, d.today - timedelta(days=2))
    marked = await d.client.post(
        f"{API}/medical-records/{wrong['id']}/entered-in-error",
        json={"reason": "Wrong pet"},
        headers={**await d.h(RIVERSIDE_VET), "If-Match": '"1"'},
    )
    assert marked.status_code == 200, marked.text
    hill_pet = hill_owner[1][0]["id"]
    await d.record(hill_pet, d.today - timedelta(days=1), email=HILLCREST_TECH)

    awaiting = await d.visit(pet)
    awaiting_too = await d.visit(d.owners[1][1][0]["id"])
    await d.visit(pet, state="new", summary=False)
    await d.visit(pet, state="processing", summary=False)
    await d.visit(pet, state="failed", summary=False)
    await d.visit(pet, summary=False)  # processed, but nothing to review
    await d.visit(pet, record_id=due_today["id"])  # reviewed: a record was made from it
    hill_visit = await d.visit(hill_pet, email=HILLCREST_TECH)

    response = await d.dashboard()
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["date"] == d.today.isoformat()
    assert body["timezone"] == str(d.zone)
    # Today's appointments, by start time; not yesterday's, tomorrow's or Hillcrest's.
    assert ids(body["appointments"]) == [a1["id"], b1["id"], a2["id"]]
    assert {yesterday["id"], tomorrow["id"], hill["id"]}.isdisjoint(ids(body["appointments"]))
    first = body["appointments"][0]
    owner_id, owner_pets = d.owners[0]
    assert first["owner"]["id"] == owner_id
    assert first["owner"]["full_name"].startswith("Dash Client ")
    assert sorted(first["pet_ids"]) == sorted(p["id"] for p in owner_pets[:2])
    assert {(p["id"], p["name"], p["species"]) for p in first["pets"]} == {
        (p["id"], p["name"], "cat") for p in owner_pets[:2]
    }
    assert len(body["appointments"][1]["pets"]) == 3
    # Follow-ups due (active, up to today), by date; visits with a draft to review.
    assert ids(body["follow_ups"]) == [due_yesterday["id"], due_today["id"]]
    assert body["follow_ups"][0]["follow_up_required"] is True
    assert ids(body["visits_awaiting_review"]) == [awaiting["id"], awaiting_too["id"]]
    review = body["visits_awaiting_review"][0]
    assert review["state"] == "processed"
    assert review["summary"]["text"] == "Draft summary"
    assert review["summary_record_id"] is None
    # The follow-ups agree with the practice's follow-up list for the same day.
    listed = await d.client.get(
        f"{API}/practices/{riverside}/follow-ups",
        params={"due_before": d.today.isoformat()},
        headers=await d.h(RIVERSIDE_TECH),
    )
    assert ids(listed.json()["items"]) == ids(body["follow_ups"])

    # One vet's day: their appointments only; the practice's follow-ups and visits.
    for vet, expected in ((vet_a, [a1, a2]), (vet_b, [b1]), (uuid.uuid4(), [])):
        mine = (await d.dashboard(vet_id=vet)).json()
        assert ids(mine["appointments"]) == ids(expected)
        assert ids(mine["follow_ups"]) == ids(body["follow_ups"])
        assert ids(mine["visits_awaiting_review"]) == ids(body["visits_awaiting_review"])
    assert_problem(await d.dashboard(vet_id="not-a-uuid"), 422)

    # Every staff role of the practice may read it; Hillcrest's staff see Hillcrest's day.
    for email in (RIVERSIDE_VET, RIVERSIDE_MANAGER):
        assert ids((await d.dashboard(email)).json()["appointments"]) == ids(body["appointments"])
    # (Hillcrest's today, in New York, may not be the day its appointment was booked on.)
    theirs = (await d.dashboard(HILLCREST_TECH)).json()
    assert theirs["timezone"] == "America/New_York"
    assert set(ids(theirs["appointments"])) <= {hill["id"]}
    assert ids(theirs["visits_awaiting_review"]) == [hill_visit["id"]]
    assert len(theirs["follow_ups"]) == 1

    # A former client (association no longer approved): their records and visits leave
    # the dashboard and the follow-up list, as they leave every single read.
    async with d.world.app.state.container.engine.begin() as conn:
        await conn.execute(
            update(practice_associations)
            .where(
                practice_associations.c.pet_owner_id == owner_id,
                practice_associations.c.practice_id == riverside,
            )
            .values(
                status="inactive",
                deactivated_at=datetime.now(UTC),
                deactivated_by=d.world.users[RIVERSIDE_MANAGER].id,
            )
        )
    after = (await d.dashboard()).json()
    assert ids(after["follow_ups"]) == []
    assert ids(after["visits_awaiting_review"]) == [awaiting_too["id"]]
    listed = await d.client.get(
        f"{API}/practices/{riverside}/follow-ups",
        params={"due_before": d.today.isoformat()},
        headers=await d.h(RIVERSIDE_TECH),
    )
    assert ids(listed.json()["items"]) == []


async def test_owners_and_system_admins_may_not_and_every_read_is_audited(
    uncached: Day,
) -> None:
    d = uncached
    for email in (OWNER, ADMIN):
        refused = await d.dashboard(email)
        assert_problem(refused, 403)
        rows = await audit_rows(d.app, refused.headers["x-request-id"])
        assert [(r["action"], r["outcome"]) for r in rows] == [("dashboard.read", "denied")]
        assert rows[0]["actor_id"] == d.world.users[email].id
    anonymous = await d.client.get(f"{API}/dashboard/today")
    assert anonymous.status_code == 401
    assert await audit_rows(d.app, anonymous.headers["x-request-id"]) == []

    vet = await d.new_vet(d.world.riverside)
    for params in ({}, {"vet_id": vet}):
        response = await d.dashboard(RIVERSIDE_VET, **params)
        assert response.status_code == 200
        rows = await audit_rows(d.app, response.headers["x-request-id"])
        assert len(rows) == 1, rows
        row = rows[0]
        assert (row["action"], row["outcome"]) == ("dashboard.read", "success")
        assert (row["resource_type"], row["resource_id"]) == ("practice", str(d.world.riverside))
        assert row["practice_id"] == d.world.riverside
        assert row["actor_id"] == d.world.users[RIVERSIDE_VET].id
        # The reader's practice; the data's (the same here) in the details.
        practice = {"data_practice_id": str(d.world.riverside)}
        assert row["details"] == ({"vet_id": str(vet), **practice} if params else practice)


# --------------------------------------------------------------------------- statements


async def test_constant_statement_count_for_one_and_fifty_appointments(uncached: Day) -> None:
    d = uncached
    vets = [await d.new_vet(d.world.riverside) for _ in range(2)]
    pet = d.owners[0][1][0]["id"]
    await d.book(vets[0], d.local(6))
    await d.record(pet, d.today)
    await d.visit(pet)
    one, one_count = await d.counted()
    assert len(one.json()["appointments"]) == 1
    _, one_vet_count = await d.counted(vet_id=vets[0])

    # 49 more, over two vets, three owners and one to three pets each; more follow-ups
    # and visits too.
    for i in range(1, 50):
        vet = vets[i % 2]
        slot = d.local(6) + timedelta(minutes=15 * (i // 2 + 1))
        await d.book(vet, slot, client_index=i % 3, pets=1 + i % 3)
    for _, pets in d.owners:
        for p in pets:
            await d.record(p["id"], d.today - timedelta(days=1))
            await d.visit(p["id"])
    fifty, fifty_count = await d.counted()
    body = fifty.json()
    assert len(body["appointments"]) == 50
    assert len(body["follow_ups"]) == 7
    assert len(body["visits_awaiting_review"]) == 7
    assert sum(len(a["pets"]) for a in body["appointments"]) > 50
    _, fifty_vet_count = await d.counted(vet_id=vets[0])

    assert one_count == fifty_count, (one_count, fifty_count)
    assert one_vet_count == fifty_vet_count == one_count
    # Session lookup, the practice, the audit row, and the three reads of the day.
    assert fifty_count <= 8, fifty_count
    print(f"dashboard statements, uncached: 1 appointment {one_count}, 50: {fifty_count}")


# --------------------------------------------------------------------------- caching


async def test_served_from_cache_until_something_changes(cached: Day) -> None:
    d = cached
    riverside, hillcrest = d.world.riverside, d.world.hillcrest
    vet = await d.new_vet(riverside)
    first = await d.book(vet, d.local(6))

    fresh, fresh_count = await d.counted()
    assert ids(fresh.json()["appointments"]) == [first["id"]]
    again, cached_count = await d.counted()
    assert again.content == fresh.content
    assert cached_count < fresh_count, (cached_count, fresh_count)
    print(f"dashboard statements: uncached {fresh_count}, cached {cached_count}")
    # A cached read is still audited.
    rows = await audit_rows(d.app, again.headers["x-request-id"])
    assert [(r["action"], r["outcome"]) for r in rows] == [("dashboard.read", "success")]

    # Booking invalidates: the next read shows the new appointment.
    second = await d.book(vet, d.local(7))
    shown, count = await d.counted()
    assert ids(shown.json()["appointments"]) == [first["id"], second["id"]]
    assert count == fresh_count
    assert (await d.counted())[1] == cached_count

    # A status change invalidates.
    moved = await d.client.post(
        f"{API}/appointments/{second['id']}/status",
        json={"status": "confirmed"},
        headers=await d.h(RIVERSIDE_TECH),
    )
    assert moved.status_code == 200
    shown, _ = await d.counted()
    assert [a["status"] for a in shown.json()["appointments"]] == ["scheduled", "confirmed"]

    # Rescheduling invalidates (here: out of today).
    patched = await d.client.patch(
        f"{API}/appointments/{second['id']}",
        json={"start_at": d.local(9, days=1).isoformat()},
        headers={**await d.h(RIVERSIDE_TECH), "If-Match": '"2"'},
    )
    assert patched.status_code == 200, patched.text
    shown, _ = await d.counted()
    assert ids(shown.json()["appointments"]) == [first["id"]]

    # One vet's dashboard is cached on its own, and invalidated with the practice's.
    _, vet_fresh = await d.counted(vet_id=vet)
    _, vet_cached = await d.counted(vet_id=vet)
    assert (vet_fresh, vet_cached) == (fresh_count, cached_count)
    third = await d.book(vet, d.local(8))
    vet_view, vet_count = await d.counted(vet_id=vet)
    assert ids(vet_view.json()["appointments"]) == [first["id"], third["id"]]
    assert vet_count == fresh_count

    # Another practice's change leaves Riverside's cache alone.
    _, count = await d.counted()
    assert count == fresh_count
    d.owners.append(await d.new_client(HILLCREST_TECH, 1))
    hill_vet = await d.new_vet(hillcrest)
    await d.book(
        hill_vet,
        datetime.now(UTC) + timedelta(minutes=5),
        client_index=len(d.owners) - 1,
        staff=HILLCREST_TECH,
        practice=hillcrest,
    )
    _, count = await d.counted()
    assert count == cached_count

    # A new visit invalidates.
    pet = d.owners[0][1][0]["id"]
    visit = await d.client.post(
        f"{API}/pets/{pet}/visits",
        json={"visit_date": datetime.now(UTC).isoformat()},
        headers=await d.h(RIVERSIDE_TECH),
    )
    assert visit.status_code == 201
    _, count = await d.counted()
    assert count == fresh_count

    # A new follow-up shows once its event is delivered (the outbox handler invalidates).
    due = await d.record(pet, d.today)
    await deliver_events(d.app)
    shown, count = await d.counted()
    assert count == fresh_count
    assert ids(shown.json()["follow_ups"]) == [due["id"]]
