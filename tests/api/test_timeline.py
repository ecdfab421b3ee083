"""GET /pets/{pet_id}/timeline: the pet's history, newest first, one cursor."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from tests.api.auth_helpers import (
    ADMIN,
    API,
    HILLCREST_TECH,
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    login_ok,
    seed_demo,
)
from tests.api.sql_counter import count_statements


async def test_timeline_is_newest_first_paged_and_leaves_out_errors(
    app: FastAPI, client: AsyncClient
) -> None:
    await seed_demo(app)
    owner = (await login_ok(client, OWNER)).headers
    tech = (await login_ok(client, RIVERSIDE_TECH)).headers
    vet = (await login_ok(client, RIVERSIDE_VET)).headers
    pet = (await client.get(f"{API}/pets", params={"limit": 1}, headers=owner)).json()["items"][0]
    today = date.today()
    created = []
    for days_ago in (30, 10, 20, 5):
        response = await client.post(
            f"{API}/pets/{pet['id']}/medical-records",
            json={
                "record_type": "checkup",
                "title": f"Visit {days_ago} days ago",
                "visit_date": (today - timedelta(days=days_ago)).isoformat(),
            },
            headers=tech,
        )
        assert response.status_code == 201, response.text
        created.append(response.json())
    wrong = created[0]
    marked = await client.post(
        f"{API}/medical-records/{wrong['id']}/entered-in-error",
        json={"reason": "Wrong pet"},
        headers={**vet, "If-Match": '"1"'},
    )
    assert marked.status_code == 200

    seen: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await client.get(f"{API}/pets/{pet['id']}/timeline", params=params, headers=owner)
        assert page.status_code == 200, page.text
        seen.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    # The demo data has records of its own on this pet; ours are the "Visit" ones.
    assert len({item["id"] for item in seen}) == len(seen)
    assert [item["title"] for item in seen if str(item["title"]).startswith("Visit ")] == [
        "Visit 5 days ago",
        "Visit 10 days ago",
        "Visit 20 days ago",
    ]
    assert {item["kind"] for item in seen} == {"medical_record"}
    assert all(item["medical_record"]["id"] == item["id"] for item in seen)
    dates = [item["occurred_on"] for item in seen]
    assert dates == sorted(dates, reverse=True)

    # The same number of statements for a page of 1 and a page of 3.
    with count_statements(app) as small:
        await client.get(f"{API}/pets/{pet['id']}/timeline", params={"limit": 1}, headers=owner)
    with count_statements(app) as large:
        await client.get(f"{API}/pets/{pet['id']}/timeline", params={"limit": 3}, headers=owner)
    # The pet scope check, the audit row (lock the chain head; insert it and move the head),
    # then the page: its keys (records, appointments and visits merged), and one statement
    # each for the records, appointments and visits on it (the session lookup is cached).
    assert small.count == large.count <= 7, large.report()
    assert wrong["id"] not in {item["id"] for item in seen}

    # A record's history uses the list envelope too (one page: next_cursor is null).
    history = await client.get(f"{API}/medical-records/{wrong['id']}/history", headers=owner)
    assert history.status_code == 200
    assert history.json()["next_cursor"] is None
    assert [h["event_type"] for h in history.json()["items"]] == ["created", "entered_in_error"]


# --------------------------------------------------------------------------- merged kinds

LONDON = ZoneInfo("Europe/London")  # Riverside
NEW_YORK = ZoneInfo("America/New_York")  # Hillcrest


async def _walk(client: AsyncClient, url: str, headers: dict[str, str], limit: int) -> list[Any]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(500):
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await client.get(url, params=params, headers=headers)
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) <= limit
        items.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the timeline never ended")


async def test_timeline_merges_records_appointments_and_visits(
    app: FastAPI, client: AsyncClient
) -> None:
    """The demo owner's pet (a client of both practices): records, appointments and visits
    of both practices, one list newest day first (days in each practice's timezone), one
    cursor. Appointments are practice business: each practice's staff see their own only.
    Records and visits are shared with every practice the client is approved with."""
    users = await seed_demo(app)
    h = {e: (await login_ok(client, e)).headers for e in (OWNER, RIVERSIDE_TECH, HILLCREST_TECH)}
    h[ADMIN] = (await login_ok(client, ADMIN)).headers
    pets = (await client.get(f"{API}/pets", params={"limit": 50}, headers=h[OWNER])).json()
    pet, other_pet = pets["items"][0], pets["items"][1]
    owner_id = pet["owner_id"]
    practices = (await client.get(f"{API}/practices", headers=h[OWNER])).json()["items"]
    practice = {p["timezone"]: p["id"] for p in practices}
    riverside, hillcrest = practice["Europe/London"], practice["America/New_York"]
    today = datetime.now(UTC).date()

    async def book(
        where: str, staff: str, vet: str, start_at: datetime, pet_ids: list[str]
    ) -> dict[str, Any]:
        body = {
            "pet_owner_id": owner_id,
            "pet_ids": pet_ids,
            "assigned_vet_id": str(users[vet].id),
            "start_at": start_at.isoformat(),
            "duration_minutes": 30,
            "title": f"Appointment {start_at.isoformat()}",
        }
        made = await client.post(
            f"{API}/practices/{where}/appointments", json=body, headers=h[staff]
        )
        assert made.status_code == 201, made.text
        return dict(made.json())

    async def visit(staff: str, when: datetime) -> dict[str, Any]:
        made = await client.post(
            f"{API}/pets/{pet['id']}/visits",
            json={"visit_date": when.isoformat(), "transcript_text": "Seen."},
            headers=h[staff],
        )
        assert made.status_code == 201, made.text
        return dict(made.json())

    def local(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=zone)

    d20, d15, d12, d3 = (today - timedelta(days=n) for n in (20, 15, 12, 3))
    # 00:30 in London is the previous day in UTC; 23:30 in New York the next day.
    river_past = await book(
        riverside, RIVERSIDE_TECH, RIVERSIDE_VET, local(d20, 0, 30, LONDON), [pet["id"]]
    )
    river_future = await book(
        riverside,
        RIVERSIDE_TECH,
        RIVERSIDE_VET,
        local(today + timedelta(days=5), 10, 0, LONDON),
        [pet["id"], other_pet["id"]],
    )
    hill_past = await book(
        hillcrest, HILLCREST_TECH, HILLCREST_VET, local(d15, 23, 30, NEW_YORK), [pet["id"]]
    )
    # Another pet's appointment is not this pet's history.
    not_this_pet = await book(
        riverside, RIVERSIDE_TECH, RIVERSIDE_VET, local(d12, 9, 0, LONDON), [other_pet["id"]]
    )
    river_visit = await visit(RIVERSIDE_TECH, local(d12, 23, 30, NEW_YORK))  # Riverside: d12+1
    hill_visit = await visit(HILLCREST_TECH, local(d3, 23, 30, NEW_YORK))
    record = await client.post(
        f"{API}/pets/{pet['id']}/medical-records",
        json={"record_type": "checkup", "title": "Merged", "visit_date": d12.isoformat()},
        headers=h[RIVERSIDE_TECH],
    )
    assert record.status_code == 201, record.text

    async def expected(practice_id: str | None) -> list[tuple[str, str, str]]:
        """(day, id, kind), newest first, computed in SQL apart from the app's query."""
        statement = """
            SELECT visit_date AS day, id, 'medical_record' AS kind FROM medical_records
             WHERE pet_id = :pet AND status <> 'entered_in_error'
            UNION ALL
            SELECT (a.start_at AT TIME ZONE p.timezone)::date, a.id, 'appointment'
              FROM appointments a JOIN appointment_pets ap ON ap.appointment_id = a.id
              JOIN practices p ON p.id = a.practice_id
             WHERE ap.pet_id = :pet AND (CAST(:practice AS uuid) IS NULL
                                         OR a.practice_id = CAST(:practice AS uuid))
            UNION ALL
            SELECT (v.visit_date AT TIME ZONE p.timezone)::date, v.id, 'visit'
              FROM visits v JOIN practices p ON p.id = v.practice_id WHERE v.pet_id = :pet
            ORDER BY day DESC, id DESC
        """
        async with app.state.container.engine.connect() as conn:
            rows = await conn.execute(text(statement), {"pet": pet["id"], "practice": practice_id})
            return [(row.day.isoformat(), str(row.id), row.kind) for row in rows]

    url = f"{API}/pets/{pet['id']}/timeline"
    for email, sees in (
        (OWNER, None),
        (ADMIN, None),
        (RIVERSIDE_TECH, riverside),
        (HILLCREST_TECH, hillcrest),
    ):
        everything = await _walk(client, url, h[email], 200)
        one_by_one = await _walk(client, url, h[email], 1)
        assert one_by_one == everything, email
        got = [(i["occurred_on"], i["id"], i["kind"]) for i in everything]
        assert got == await expected(sees), email
        assert len({i["id"] for i in everything}) == len(everything)
        kinds = {i["kind"]: i for i in everything}
        assert set(kinds) == {"medical_record", "appointment", "visit"}, email
        for item in everything:
            assert item[item["kind"]]["id"] == item["id"], item
            others = {"medical_record", "appointment", "visit"} - {item["kind"]}
            assert all(item.get(k) is None for k in others), item
        shown = {i["id"] for i in everything}
        assert not_this_pet["id"] not in shown
        assert {river_visit["id"], hill_visit["id"]} <= shown
        if sees == hillcrest:
            assert {river_past["id"], river_future["id"]}.isdisjoint(shown)
            assert hill_past["id"] in shown
        elif sees == riverside:
            assert hill_past["id"] not in shown
            assert {river_past["id"], river_future["id"]} <= shown
        else:
            assert {river_past["id"], river_future["id"], hill_past["id"]} <= shown

    owner_view = {i["id"]: i for i in await _walk(client, url, h[OWNER], 200)}
    # Days are the practice's local days, not UTC days.
    assert owner_view[river_past["id"]]["occurred_on"] == d20.isoformat()
    assert owner_view[hill_past["id"]]["occurred_on"] == d15.isoformat()
    assert owner_view[river_visit["id"]]["occurred_on"] == (d12 + timedelta(days=1)).isoformat()
    assert owner_view[hill_visit["id"]]["occurred_on"] == d3.isoformat()
    # The future appointment comes first; items carry their object and a title.
    first = next(iter(owner_view.values()))
    assert first["id"] == river_future["id"]
    assert first["appointment"]["pets"]
    assert first["title"] == river_future["title"]
    assert owner_view[hill_visit["id"]]["visit"]["state"] == "new"
    # A cursor of one pet's timeline is refused on another's.
    page = await client.get(url, params={"limit": 1}, headers=h[OWNER])
    cursor = page.json()["next_cursor"]
    forged = await client.get(
        f"{API}/pets/{other_pet['id']}/timeline", params={"cursor": cursor}, headers=h[OWNER]
    )
    assert forged.status_code == 400

    # The same statements for a page of 1 and a page of everything (all three kinds on it).
    with count_statements(app) as small:
        await client.get(url, params={"limit": 1}, headers=h[OWNER])
    with count_statements(app) as large:
        await client.get(url, params={"limit": 200}, headers=h[OWNER])
    assert small.count == large.count <= 7, large.report()
