"""GET /pets/{pet_id}/timeline: the pet's history, newest first, one cursor."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import API, OWNER, RIVERSIDE_TECH, RIVERSIDE_VET, login_ok, seed_demo
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
    # pet scope check, the audit row (lock the chain head; insert and move it), the page
    assert small.count == large.count <= 4
    assert wrong["id"] not in {item["id"] for item in seen}

    # A record's history uses the list envelope too (one page: next_cursor is null).
    history = await client.get(f"{API}/medical-records/{wrong['id']}/history", headers=owner)
    assert history.status_code == 200
    assert history.json()["next_cursor"] is None
    assert [h["event_type"] for h in history.json()["items"]] == ["created", "entered_in_error"]
