"""Keyset pagination on the client lists: complete, ordered walks under concurrent
inserts; cursors bound to their list and filters; limit bounds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from itertools import pairwise
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from tests.api.auth_helpers import ADMIN, RIVERSIDE_VET
from tests.api.clients_helpers import assert_problem
from tests.fixtures.world import World, start
from vetchart.adapters.db.tables import pet_owners, pets, practice_associations

API = "/api/v1"
Key = tuple[str, UUID]


async def _riverside_owner_ids(world: World) -> set[UUID]:
    query = select(practice_associations.c.pet_owner_id).where(
        practice_associations.c.practice_id == world.riverside,
        practice_associations.c.status == "approved",
    )
    async with world.app.state.container.engine.connect() as conn:
        return set((await conn.execute(query)).scalars())


async def _pet_keys(world: World, species: str | None = None) -> dict[str, Key]:
    """The active pets Riverside's staff may see, straight from the database."""
    owners = await _riverside_owner_ids(world)
    query = select(pets.c.id, pets.c.name, pets.c.species, pets.c.owner_id).where(pets.c.is_active)
    async with world.app.state.container.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {
        str(r.id): (r.name, r.id)
        for r in rows
        if r.owner_id in owners and (species is None or r.species == species)
    }


async def _owner_keys(world: World) -> dict[str, Key]:
    owners = await _riverside_owner_ids(world)
    query = select(pet_owners.c.id, pet_owners.c.full_name)
    async with world.app.state.container.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {str(r.id): (r.full_name, r.id) for r in rows if r.id in owners}


async def _walk(
    world: World,
    path: str,
    key_of: Callable[[dict[str, Any]], Key],
    limit: int,
    between_pages: Callable[[int, dict[str, Any]], Awaitable[None]],
    **params: Any,
) -> list[dict[str, Any]]:
    headers = await world.h(RIVERSIDE_VET)
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for page_number in range(1000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await world.client.get(f"{API}{path}", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        assert len(body["items"]) == limit  # only a full page has a next one
        await between_pages(page_number, body["items"][-1])
    raise AssertionError("the walk did not end")


def _check_walk(
    seen: list[dict[str, Any]],
    key_of: Callable[[dict[str, Any]], Key],
    initial: dict[str, Key],
    inserted: set[str],
) -> None:
    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids)), "a row was returned twice"
    missing = set(initial) - set(ids)
    assert not missing, f"rows present from the start were skipped: {missing}"
    assert set(ids) <= set(initial) | inserted, "rows that should not be there"
    keys = [key_of(item) for item in seen]
    assert all(a < b for a, b in pairwise(keys)), "out of order"


async def test_walking_pets_returns_every_row_once_in_order_under_inserts(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client, demo_clients=True)
    initial = await _pet_keys(world)
    assert len(initial) > 30
    some_owner = next(iter(await _riverside_owner_ids(world)))
    inserted: set[str] = set()

    async def insert_around(page_number: int, last: dict[str, Any]) -> None:
        # One row before the cursor, one equal to it by name (a later id), one after.
        for name in (f"Aaa{page_number}", last["name"], f"Zzz{page_number}"):
            pet = await world.create_pet(RIVERSIDE_VET, some_owner, name=name, species="dog")
            inserted.add(pet["id"])

    def key_of(item: dict[str, Any]) -> Key:
        return (item["name"], UUID(item["id"]))

    seen = await _walk(world, "/pets", key_of, 7, insert_around)
    _check_walk(seen, key_of, initial, inserted)
    assert len(inserted) >= 12
    # Rows inserted after the position of the cursor are found by a keyset walk.
    final = await _pet_keys(world)
    late = {i for i in inserted if final[i][0].startswith("Zzz")}
    assert late <= {item["id"] for item in seen}
    # And the final state, read in one page, agrees with the database.
    everything = await client.get(
        f"{API}/pets", params={"limit": 200}, headers=await world.h(RIVERSIDE_VET)
    )
    assert [p["id"] for p in everything.json()["items"]] == sorted(final, key=final.__getitem__)


async def test_a_filtered_walk_keeps_its_filters(app: FastAPI, client: AsyncClient):
    world = await start(app, client, demo_clients=True)
    initial = await _pet_keys(world, species="dog")
    some_owner = next(iter(await _riverside_owner_ids(world)))
    inserted: set[str] = set()

    async def insert(page_number: int, last: dict[str, Any]) -> None:
        for species in ("dog", "cat"):
            pet = await world.create_pet(
                RIVERSIDE_VET, some_owner, name=f"Mid{page_number}{species}", species=species
            )
            if species == "dog":
                inserted.add(pet["id"])

    def key_of(item: dict[str, Any]) -> Key:
        assert item["species"] == "dog"
        return (item["name"], UUID(item["id"]))

    seen = await _walk(world, "/pets", key_of, 3, insert, species="dog")
    _check_walk(seen, key_of, initial, inserted)


async def test_walking_pet_owners_returns_every_row_once_in_order_under_inserts(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client, demo_clients=True)
    initial = await _owner_keys(world)
    assert len(initial) > 20
    inserted: set[str] = set()

    async def insert_around(page_number: int, last: dict[str, Any]) -> None:
        for name in (f"Aaron Early{page_number}", last["full_name"], f"Zed Late{page_number}"):
            owner = await world.create_owner(RIVERSIDE_VET, full_name=name)
            inserted.add(owner["id"])

    def key_of(item: dict[str, Any]) -> Key:
        return (item["full_name"], UUID(item["id"]))

    seen = await _walk(world, "/pet-owners", key_of, 6, insert_around)
    _check_walk(seen, key_of, initial, inserted)


async def test_forged_or_foreign_cursors_are_refused(app: FastAPI, client: AsyncClient):
    world = await start(app, client, demo_clients=True)
    headers = await world.h(RIVERSIDE_VET)

    async def get(path: str, **params: Any) -> Any:
        return await client.get(f"{API}{path}", params=params, headers=headers)

    pets_page = await get("/pets", limit=2)
    cursor = pets_page.json()["next_cursor"]
    assert cursor
    assert (await get("/pets", limit=2, cursor=cursor)).status_code == 200
    # The limit is not a filter: the same cursor works with another page size.
    assert (await get("/pets", limit=5, cursor=cursor)).status_code == 200

    payload, signature = cursor.split(".")

    def flip(text: str, index: int) -> str:
        return text[:index] + ("B" if text[index] != "B" else "C") + text[index + 1 :]

    owners_cursor = (await get("/pet-owners", limit=2)).json()["next_cursor"]
    dogs_cursor = (await get("/pets", limit=2, species="dog")).json()["next_cursor"]
    forged = [
        flip(payload, len(payload) // 2) + "." + signature,
        flip(payload, 1) + "." + signature,
        payload + "." + flip(signature, 3),
        payload + "." + signature[:-4],
        payload,
        "." + signature,
        cursor + "x",
        owners_cursor.split(".")[0] + "." + signature,
        "garbage",
        "%%%.$$$",
        "e30.AAAAAAAAAAAAAAAAAAAAAA",  # {} with a made-up signature
        "",
    ]
    for bad in forged:
        response = await get("/pets", limit=2, cursor=bad)
        body = assert_problem(response, 400)
        assert "cursor" in body["detail"].lower(), (bad, body)
    # A valid cursor of another list, or of the same list with other filters.
    for path, params, foreign in [
        ("/pets", {}, owners_cursor),
        ("/pet-owners", {}, cursor),
        ("/pets", {"species": "cat"}, dogs_cursor),
        ("/pets", {}, dogs_cursor),
        ("/pets", {"species": "dog"}, cursor),
        ("/pets", {"include_inactive": "true"}, cursor),
        ("/pets", {"q": "a"}, cursor),
        ("/pet-owners", {"q": "a"}, owners_cursor),
        (f"/practices/{world.riverside}/staff", {}, cursor),
    ]:
        response = await get(path, limit=2, cursor=foreign, **params)
        assert_problem(response, 400)
    response = await client.get(
        f"{API}/pets", params={"limit": 2, "cursor": cursor}, headers=await world.h(ADMIN)
    )
    # A cursor is about a list's position, not a secret of one user: it stays usable.
    assert response.status_code == 200


async def test_limit_bounds(app: FastAPI, client: AsyncClient):
    world = await start(app, client, demo_clients=True)
    headers = await world.h(ADMIN)
    for path in ("/pets", "/pet-owners", "/practices"):
        for limit in ("0", "-1", "201", "1000", "ten", "1.5"):
            response = await client.get(f"{API}{path}", params={"limit": limit}, headers=headers)
            body = assert_problem(response, 422)
            assert any(e["loc"][-1] == "limit" for e in body["errors"]), body
        one = await client.get(f"{API}{path}", params={"limit": 1}, headers=headers)
        assert one.status_code == 200
        assert len(one.json()["items"]) == 1
    total = len(await _all_pet_ids(world))
    assert total > 50
    most = await client.get(f"{API}/pets", params={"limit": 200}, headers=headers)
    assert most.status_code == 200
    assert len(most.json()["items"]) == total
    assert most.json()["next_cursor"] is None
    default = await client.get(f"{API}/pets", headers=headers)
    assert len(default.json()["items"]) == 50
    assert default.json()["next_cursor"] is not None


async def _all_pet_ids(world: World) -> list[str]:
    async with world.app.state.container.engine.connect() as conn:
        rows = (await conn.execute(select(pets.c.id).where(pets.c.is_active))).scalars()
        return [str(r) for r in rows]
