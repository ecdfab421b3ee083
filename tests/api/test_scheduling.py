"""Scheduling depth through the API on PostgreSQL: opening hours, rosters, exceptions,
appointment types, free slots (DST days too), owners' requests (race-safe) and
cancellations with the practice's cut-off, an appointment's visits."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import (
    API,
    HILLCREST_TECH,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
)
from tests.api.sql_counter import count_statements
from tests.fixtures.world import World, start
from vetchart.services.demo_scheduling import DemoScheduling

EVERY_DAY = [{"weekday": d, "start_time": "00:00", "end_time": "23:30"} for d in range(1, 8)]
# A Monday well ahead (the real clock must not pass it), and London's DST days of 2027.
MONDAY = date(2027, 6, 7)
SPRING_FORWARD = date(2027, 3, 28)  # 01:00 GMT -> 02:00 BST
FALL_BACK = date(2027, 10, 31)  # 02:00 BST -> 01:00 GMT


async def _setup(
    world: World,
    *,
    hours: list[dict[str, Any]] | None = None,
    step: int = 15,
    cutoff: int = 24,
    duration: int = 30,
    bookable: bool = True,
) -> dict[str, str]:
    manager = await world.h(RIVERSIDE_MANAGER)
    practice = world.riverside
    settings = await world.client.put(
        f"{API}/practices/{practice}/schedule-settings",
        json={
            "opening_hours": hours
            or [{"weekday": d, "start_time": "09:00", "end_time": "12:00"} for d in range(1, 6)],
            "cancel_cutoff_hours": cutoff,
            "slot_step_minutes": step,
        },
        headers=manager,
    )
    assert settings.status_code == 200, settings.text
    vet = world.users[RIVERSIDE_VET].id
    roster = await world.client.put(
        f"{API}/practices/{practice}/rosters/{vet}", json={"intervals": EVERY_DAY}, headers=manager
    )
    assert roster.status_code == 200, roster.text
    kind = await world.client.put(
        f"{API}/practices/{practice}/appointment-types/checkup",
        json={"name": "Check-up", "duration_minutes": duration, "owner_bookable": bookable},
        headers=manager,
    )
    assert kind.status_code == 200, kind.text
    return manager


async def _slots(world: World, day: date, who: str = RIVERSIDE_TECH, **query: str) -> Any:
    response = await world.client.get(
        f"{API}/practices/{world.riverside}/slots",
        params={"date": day.isoformat(), "type": "checkup", **query},
        headers=await world.h(who),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _owner_pet(world: World) -> tuple[str, str]:
    pets = await world.client.get(f"{API}/pets?limit=50", headers=await world.h(OWNER))
    pet = pets.json()["items"][0]
    return str(pet["owner_id"]), str(pet["id"])


async def _book(world: World, owner_id: str, pet_id: str, start_at: datetime) -> dict[str, Any]:
    response = await world.client.post(
        f"{API}/practices/{world.riverside}/appointments",
        json={
            "pet_owner_id": owner_id,
            "pet_ids": [pet_id],
            "assigned_vet_id": str(world.users[RIVERSIDE_VET].id),
            "start_at": start_at.isoformat(),
            "duration_minutes": 30,
            "appointment_type": "checkup",
            "title": "Booked by staff",
        },
        headers=await world.h(RIVERSIDE_TECH),
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_slots_follow_hours_rosters_bookings_and_exceptions(
    app: FastAPI, client: AsyncClient
) -> None:
    world = await start(app, client, demo_clients=True)
    manager = await _setup(world)
    vet = world.users[RIVERSIDE_VET]
    found = await _slots(world, MONDAY)
    starts = [s["start_at"] for s in found["items"]]
    # 09:00-12:00 BST, 30 minutes every 15: 09:00 ... 11:30, in the practice's offset.
    assert starts[0] == "2027-06-07T09:00:00+01:00"
    assert starts[-1] == "2027-06-07T11:30:00+01:00"
    assert len(starts) == 11
    assert {s["vet_name"] for s in found["items"]} == {vet.full_name}
    assert found["timezone"] == "Europe/London"
    assert found["duration_minutes"] == 30
    # Saturday: closed (no weekly hours).
    assert (await _slots(world, MONDAY + timedelta(days=5)))["items"] == []

    # A booking of 10:00-10:30 removes the slots that overlap it (touching ones stay).
    owner_id, pet_id = await _owner_pet(world)
    await _book(world, owner_id, pet_id, datetime(2027, 6, 7, 9, 0, tzinfo=UTC))
    starts = [s["start_at"][11:16] for s in (await _slots(world, MONDAY))["items"]]
    assert "09:30" in starts
    assert "10:30" in starts
    assert not {"09:45", "10:00", "10:15"} & set(starts)

    # The practice closed that day: nothing; removing the closure brings them back.
    practice = world.riverside
    closure = await client.post(
        f"{API}/practices/{practice}/schedule-exceptions",
        json={"date": MONDAY.isoformat(), "reason": "Staff training"},
        headers=manager,
    )
    assert closure.status_code == 201, closure.text
    assert closure.json()["closed"] is True
    assert (await _slots(world, MONDAY))["items"] == []
    again = await client.post(
        f"{API}/practices/{practice}/schedule-exceptions",
        json={"date": MONDAY.isoformat()},
        headers=manager,
    )
    assert again.status_code == 409, again.text
    listed = await client.get(
        f"{API}/practices/{practice}/schedule-exceptions",
        params={"from": MONDAY.isoformat(), "to": MONDAY.isoformat()},
        headers=await world.h(RIVERSIDE_TECH),
    )
    assert [e["id"] for e in listed.json()["items"]] == [closure.json()["id"]]
    gone = await client.delete(
        f"{API}/practices/{practice}/schedule-exceptions/{closure.json()['id']}", headers=manager
    )
    assert gone.status_code == 204
    assert len((await _slots(world, MONDAY))["items"]) == 8

    # The vet works only 11:00-12:00 that day (a one-off change of the roster).
    change = await client.post(
        f"{API}/practices/{practice}/schedule-exceptions",
        json={
            "date": MONDAY.isoformat(),
            "vet_id": str(vet.id),
            "start_time": "11:00",
            "end_time": "12:00",
        },
        headers=manager,
    )
    assert change.status_code == 201, change.text
    starts = [s["start_at"][11:16] for s in (await _slots(world, MONDAY))["items"]]
    assert starts == ["11:00", "11:15", "11:30"]

    # The statements of a slots request do not grow with what the day holds.
    tech = await world.h(RIVERSIDE_TECH)
    url = f"{API}/practices/{practice}/slots?date={MONDAY.isoformat()}&type=checkup"
    with count_statements(app) as counter:
        assert (await client.get(url, headers=tech)).status_code == 200
    few = counter.count
    for hour in (11, 12):  # two more bookings that day (in BST, 11:00 and 12:00 local)
        await _book(world, owner_id, pet_id, datetime(2027, 6, 7, hour - 1, 0, tzinfo=UTC))
    with count_statements(app) as counter:
        assert (await client.get(url, headers=tech)).status_code == 200
    assert counter.count == few, counter.report()


async def test_slots_on_dst_days_follow_the_wall_clock(app: FastAPI, client: AsyncClient) -> None:
    world = await start(app, client, demo_clients=True)
    night = [{"weekday": 7, "start_time": "00:00", "end_time": "04:00"}]
    await _setup(world, hours=night, step=60, duration=60)
    spring = [s["start_at"] for s in (await _slots(world, SPRING_FORWARD))["items"]]
    # 00:00-04:00 local is three hours that night: 01:00-02:00 does not exist.
    assert [a[11:19] for a in spring] == ["00:00:00", "02:00:00", "03:00:00"]
    assert spring[0][19:] in ("Z", "+00:00")
    assert spring[1][19:] == "+01:00"
    autumn = [s["start_at"] for s in (await _slots(world, FALL_BACK))["items"]]
    # ... and five hours in October: 01:00-02:00 comes twice (BST, then GMT).
    assert [a[11:19] for a in autumn] == [
        "00:00:00",
        "01:00:00",
        "01:00:00",
        "02:00:00",
        "03:00:00",
    ]
    assert autumn[1][19:] == "+01:00"
    assert autumn[2][19:] in ("Z", "+00:00")
    instants = [datetime.fromisoformat(a.replace("Z", "+00:00")) for a in autumn]
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(instants))


async def test_owner_requests_a_slot_and_staff_confirm(app: FastAPI, client: AsyncClient) -> None:
    world = await start(app, client, demo_clients=True)
    await _setup(world)
    owner = await world.h(OWNER)
    _, pet_id = await _owner_pet(world)
    slot = (await _slots(world, MONDAY, OWNER))["items"][0]
    asked = {"pet_ids": [pet_id], "appointment_type": "checkup", "start_at": slot["start_at"]}
    url = f"{API}/practices/{world.riverside}/appointment-requests"
    made = await client.post(url, json=asked, headers=owner)
    assert made.status_code == 201, made.text
    appointment = made.json()
    assert appointment["status"] == "requested"
    assert appointment["duration_minutes"] == 30
    assert appointment["assigned_vet_id"] == slot["vet_id"]
    # The slot is taken now: not listed, and asking again is 409.
    assert slot["start_at"] not in [s["start_at"] for s in (await _slots(world, MONDAY))["items"]]
    taken = await client.post(url, json=asked, headers=owner)
    assert taken.status_code == 409, taken.text
    assert "not a free slot" in taken.json()["detail"]
    # Not a slot start at all (off the 15-minute step): 409, nothing made.
    odd = {**asked, "start_at": "2027-06-07T09:07:00+01:00"}
    assert (await client.post(url, json=odd, headers=owner)).status_code == 409
    # Staff confirm the request.
    confirmed = await client.post(
        f"{API}/appointments/{appointment['id']}/status",
        json={"status": "confirmed"},
        headers=await world.h(RIVERSIDE_TECH),
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"
    listed = await client.get(
        f"{API}/practices/{world.riverside}/appointments?date={MONDAY.isoformat()}",
        headers=await world.h(RIVERSIDE_TECH),
    )
    assert [a["id"] for a in listed.json()["items"]] == [appointment["id"]]


async def test_a_declined_request_frees_its_slot(app: FastAPI, client: AsyncClient) -> None:
    world = await start(app, client, demo_clients=True)
    await _setup(world)
    _, pet_id = await _owner_pet(world)
    slot = (await _slots(world, MONDAY, OWNER))["items"][0]
    made = await client.post(
        f"{API}/practices/{world.riverside}/appointment-requests",
        json={"pet_ids": [pet_id], "appointment_type": "checkup", "start_at": slot["start_at"]},
        headers=await world.h(OWNER),
    )
    assert made.status_code == 201, made.text
    declined = await client.post(
        f"{API}/appointments/{made.json()['id']}/status",
        json={"status": "declined"},
        headers=await world.h(RIVERSIDE_TECH),
    )
    assert declined.status_code == 200, declined.text
    assert slot["start_at"] in [s["start_at"] for s in (await _slots(world, MONDAY))["items"]]
    # declined is final.
    again = await client.post(
        f"{API}/appointments/{made.json()['id']}/status",
        json={"status": "confirmed"},
        headers=await world.h(RIVERSIDE_TECH),
    )
    assert again.status_code == 409


async def test_two_requests_for_one_slot_at_once_one_wins(
    app: FastAPI, client: AsyncClient
) -> None:
    world = await start(app, client, demo_clients=True)
    await _setup(world)
    owner = await world.h(OWNER)
    _, pet_id = await _owner_pet(world)
    slot = (await _slots(world, MONDAY, OWNER))["items"][0]
    asked = {
        "pet_ids": [pet_id],
        "appointment_type": "checkup",
        "start_at": slot["start_at"],
        "vet_id": slot["vet_id"],
    }
    url = f"{API}/practices/{world.riverside}/appointment-requests"
    answers = await asyncio.gather(*(client.post(url, json=asked, headers=owner) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [a.text for a in answers]
    listed = await client.get(
        f"{API}/practices/{world.riverside}/appointments?date={MONDAY.isoformat()}",
        headers=await world.h(RIVERSIDE_TECH),
    )
    assert len(listed.json()["items"]) == 1


async def test_owner_cancels_until_the_cutoff(app: FastAPI, client: AsyncClient) -> None:
    world = await start(app, client, demo_clients=True)
    await _setup(world, cutoff=24)
    owner_id, pet_id = await _owner_pet(world)
    owner = await world.h(OWNER)
    soon = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    late = await _book(world, owner_id, pet_id, soon)
    refused = await client.post(f"{API}/appointments/{late['id']}/cancel", headers=owner)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["cancel_cutoff_hours"] == 24
    assert "24 hours" in body["detail"]
    assert datetime.fromisoformat(body["cancel_deadline"]) == soon - timedelta(hours=24)
    still = await client.get(f"{API}/appointments/{late['id']}", headers=owner)
    assert still.json()["status"] == "scheduled"

    later = await _book(world, owner_id, pet_id, soon + timedelta(days=3))
    # Staff cancel through the status machine, not here.
    staff = await client.post(
        f"{API}/appointments/{later['id']}/cancel", headers=await world.h(RIVERSIDE_TECH)
    )
    assert staff.status_code == 403
    done = await client.post(f"{API}/appointments/{later['id']}/cancel", headers=owner)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "cancelled"
    twice = await client.post(f"{API}/appointments/{later['id']}/cancel", headers=owner)
    assert twice.status_code == 409


async def test_bad_input_is_refused_and_changes_nothing(app: FastAPI, client: AsyncClient) -> None:
    world = await start(app, client, demo_clients=True)
    manager = await _setup(world, bookable=False)
    practice = world.riverside
    settings_url = f"{API}/practices/{practice}/schedule-settings"
    before = (await client.get(settings_url, headers=manager)).json()
    for hours in (
        [
            {"weekday": 1, "start_time": "09:00", "end_time": "12:00"},
            {"weekday": 1, "start_time": "11:00", "end_time": "13:00"},
        ],
        [{"weekday": 1, "start_time": "12:00", "end_time": "09:00"}],
        [{"weekday": 8, "start_time": "09:00", "end_time": "12:00"}],
    ):
        bad = await client.put(settings_url, json={"opening_hours": hours}, headers=manager)
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"].startswith("application/problem+json")
    assert (
        await client.put(settings_url, json={"opening_hours": [], "x": 1}, headers=manager)
    ).status_code == 422
    assert (await client.get(settings_url, headers=manager)).json() == before

    half = await client.post(
        f"{API}/practices/{practice}/schedule-exceptions",
        json={"date": MONDAY.isoformat(), "start_time": "09:00"},
        headers=manager,
    )
    assert half.status_code == 422
    too_long = await client.get(
        f"{API}/practices/{practice}/schedule-exceptions",
        params={"from": "2027-01-01", "to": "2027-12-31"},
        headers=manager,
    )
    assert too_long.status_code == 422
    stranger = await client.put(
        f"{API}/practices/{practice}/rosters/{world.users[RIVERSIDE_TECH].id}",
        json={"intervals": []},
        headers=manager,
    )
    assert stranger.status_code == 404  # not a vet
    no_type = await client.get(
        f"{API}/practices/{practice}/slots?date={MONDAY.isoformat()}", headers=manager
    )
    assert no_type.status_code == 422
    unknown = await client.get(
        f"{API}/practices/{practice}/slots?date={MONDAY.isoformat()}&type=surgery",
        headers=manager,
    )
    assert unknown.status_code == 422
    # checkup is not bookable online here: owners get 422, staff still see its slots.
    owner_slots = await client.get(
        f"{API}/practices/{practice}/slots?date={MONDAY.isoformat()}&type=checkup",
        headers=await world.h(OWNER),
    )
    assert owner_slots.status_code == 422
    _, pet_id = await _owner_pet(world)
    asked = await client.post(
        f"{API}/practices/{practice}/appointment-requests",
        json={
            "pet_ids": [pet_id],
            "appointment_type": "checkup",
            "start_at": "2027-06-07T09:00:00+01:00",
        },
        headers=await world.h(OWNER),
    )
    assert asked.status_code == 422
    # Other practices' staff see no slots of Riverside.
    other = await client.get(
        f"{API}/practices/{practice}/slots?date={MONDAY.isoformat()}&type=checkup",
        headers=await world.h(HILLCREST_TECH),
    )
    assert other.status_code == 403
    types = await client.get(f"{API}/practices/{practice}/appointment-types", headers=manager)
    assert [t["appointment_type"] for t in types.json()["items"]] == ["checkup"]


async def test_visits_of_an_appointment(app: FastAPI, client: AsyncClient) -> None:
    world = await start(app, client, demo_clients=True)
    owner_id, pet_id = await _owner_pet(world)
    at = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    appointment = await _book(world, owner_id, pet_id, at)
    tech = await world.h(RIVERSIDE_TECH)
    visit = await client.post(
        f"{API}/pets/{pet_id}/visits",
        json={"visit_date": at.isoformat(), "appointment_id": appointment["id"]},
        headers=tech,
    )
    assert visit.status_code == 201, visit.text
    await client.post(
        f"{API}/pets/{pet_id}/visits", json={"visit_date": at.isoformat()}, headers=tech
    )
    url = f"{API}/visits?appointment_id={appointment['id']}"
    for who in (RIVERSIDE_TECH, OWNER):
        listed = await client.get(url, headers=await world.h(who))
        assert listed.status_code == 200, listed.text
        assert [v["id"] for v in listed.json()["items"]] == [visit.json()["id"]]
        assert listed.json()["next_cursor"] is None
    assert (await client.get(url, headers=await world.h(HILLCREST_TECH))).status_code == 404
    assert (await client.get(f"{API}/visits", headers=tech)).status_code == 422


async def test_the_demo_data_shows_scheduling(app: FastAPI, client: AsyncClient) -> None:
    world = await start(app, client, demo_clients=True)
    c = world.container
    seeder = DemoScheduling(uow=c.uow, clock=c.clock, ids=c.ids, clients=c.client_queries)
    assert (await seeder.seed()).startswith("scheduling: 2 practices")
    assert (await seeder.seed()).startswith("scheduling: 0 practices")  # idempotent
    today = world.now().date()
    monday = today + timedelta(days=7 - today.weekday() + 7)  # a Monday 1-2 weeks ahead
    found = await _slots(world, monday, OWNER)
    assert found["items"], "the demo practice has free slots on a weekday"
    types = await client.get(
        f"{API}/practices/{world.riverside}/appointment-types", headers=await world.h(OWNER)
    )
    assert len(types.json()["items"]) == 6
    requested = await client.get(
        f"{API}/practices/{world.riverside}/appointments?status=requested",
        headers=await world.h(RIVERSIDE_TECH),
    )
    assert len(requested.json()["items"]) == 1
