"""An audited page's rows come back in the page's order whatever plan PostgreSQL picks.

The fast path's audited reads wrap a page's SQL twice (the scope check around it, the
audit chain's head lock around that: adapters/db/audited_reads.py ``with_chain_head``).
The order of a subquery's rows does not survive the joins around it: once the tables have
statistics (autoanalyze, a minute or so after the demo data went in, so only in long runs)
the planner may hash-join the scope check to the page, and the rows come back in the hash
table's order. The audit row is built from the first row returned, which carries the
page's ids only when it is the page's first row: in another order the audit row named no
records (``ids == []``, ``count == 0``) and the list itself came back out of order
(tests/api/test_read_audit.py failed this way, rarely, under load).

Here the planner is made to pick those plans at once: the tables are analysed and nested
loops and merge joins are discouraged for every connection to the world's database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from httpx import Response
from sqlalchemy.engine import make_url

from tests.api.audit_checks import audit_rows
from tests.api.auth_helpers import ADMIN, HILLCREST_VET, OWNER, RIVERSIDE_VET
from tests.fixtures.world import World, open_world
from vetchart.adapters.db.engine import libpq_url
from vetchart.config import RateLimitSettings

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"
RECORDS = 4


async def as_owner(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(pg_server_url: str, template_database: str) -> AsyncIterator[World]:
    async with open_world(
        pg_server_url,
        template_database,
        "readorder",
        rate_limit=RateLimitSettings(enabled=False),
    ) as world:
        await world.seed_demo()
        await world.sign_in(ADMIN, HILLCREST_VET, OWNER, RIVERSIDE_VET)
        # Before the fast path's pool opens (at its first read): its connections get these.
        assert world.container.fast_pool._pool is None
        database = make_url(world.url).database
        await as_owner(
            world.url,
            f'ALTER DATABASE "{database}" SET enable_nestloop = off',
            f'ALTER DATABASE "{database}" SET enable_mergejoin = off',
        )
        yield world


async def listed(world: World, url: str, who: str, **params: Any) -> tuple[list[str], Response]:
    response = await world.client.get(API + url, headers=world.headers[who], params=params)
    assert response.status_code == 200, response.text
    return [str(item["id"]) for item in response.json()["items"]], response


async def audited_ids(world: World, response: Response) -> list[str]:
    rows = await audit_rows(world.app, response.headers["x-request-id"])
    assert len(rows) == 1, rows
    details = rows[0]["details"]
    assert details["count"] == len(details["ids"]), details
    return list(details["ids"])


async def test_a_pets_records_come_newest_first_and_their_audit_row_names_them(
    world: World,
) -> None:
    _, pets = await listed(world, "/pets", OWNER)
    pet = str(pets.json()["items"][0]["id"])
    for days in range(1, RECORDS + 1):
        visit = (world.today() - timedelta(days=days)).isoformat()
        await world.create_medical_record(RIVERSIDE_VET, pet, visit_date=visit)
    await as_owner(world.url, "ANALYZE")

    for who in (HILLCREST_VET, OWNER, ADMIN):
        ids, response = await listed(world, f"/pets/{pet}/medical-records", who, limit=200)
        items = response.json()["items"]
        assert len(ids) >= RECORDS
        keys = [(item["visit_date"], item["id"]) for item in items]
        assert keys == sorted(keys, reverse=True), who
        assert await audited_ids(world, response) == ids, who

        # A page smaller than the list: the same rows, the same order, and what it named.
        first, response = await listed(world, f"/pets/{pet}/medical-records", who, limit=2)
        assert first == ids[:2], who
        assert await audited_ids(world, response) == first, who


async def test_pets_owners_and_appointments_lists_name_what_they_showed(world: World) -> None:
    owner = await world.create_owner(RIVERSIDE_VET, full_name="Order Client")
    pet = await world.create_pet(RIVERSIDE_VET, owner["id"], name="Order Pet")
    day = world.today() + timedelta(days=40)
    for hour in (11, 9, 10):
        body = {
            "pet_owner_id": owner["id"],
            "pet_ids": [pet["id"]],
            "assigned_vet_id": str(world.users[RIVERSIDE_VET].id),
            "start_at": datetime.combine(day, time(hour), UTC).isoformat(),
            "duration_minutes": 30,
            "title": f"Order visit {hour}",
        }
        response = await world.client.post(
            f"{API}/practices/{world.riverside}/appointments",
            json=body,
            headers=world.headers[RIVERSIDE_VET],
        )
        assert response.status_code == 201, response.text
    await as_owner(world.url, "ANALYZE")
    since = datetime.combine(day, time(0), UTC).isoformat()
    for url, who, params in (
        ("/pets", ADMIN, {}),
        ("/pets", RIVERSIDE_VET, {}),
        ("/pet-owners", RIVERSIDE_VET, {}),
        (f"/practices/{world.riverside}/appointments", RIVERSIDE_VET, {"from": since}),
    ):
        ids, response = await listed(world, url, who, limit=50, **params)
        assert len(ids) > 2, url
        assert await audited_ids(world, response) == ids, url
        if "appointments" in url:
            starts = [(item["start_at"], item["id"]) for item in response.json()["items"]]
            assert starts == sorted(starts), url
