"""/api/v1/pets: create, read with owner, list filters, If-Match updates, (de)activation."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from fastapi import FastAPI
from httpx import AsyncClient, Response

from tests.api.auth_helpers import (
    ADMIN,
    HILLCREST_TECH,
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
)
from tests.api.clients_helpers import assert_problem, error_fields, table_rows
from tests.fixtures.world import World, start
from vetchart.adapters.db.tables import pets

API = "/api/v1"
SELF_OWNER = "self.owner@example.com"
FULL_PET = {
    "name": "  Captain   Whiskers ",
    "species": " Cat ",
    "breed": "Maine Coon",
    "sex": "male",
    "colour": "tabby",
    "date_of_birth": "2019-04-01",
    "weight_kg": "6.25",
    "microchip_id": "985 1120 0012 3456",
    "neutered": True,
    "allergies": "penicillin",
    "notes": "Bites when bored.",
}


async def _pet_rows(app: FastAPI) -> list[dict[str, Any]]:
    return await table_rows(app, pets)


async def _patch(
    world: World, email: str, pet_id: str, changes: dict[str, Any], if_match: str | None
) -> Response:
    headers = dict(await world.h(email))
    if if_match is not None:
        headers["If-Match"] = if_match
    return await world.client.patch(f"{API}/pets/{pet_id}", json=changes, headers=headers)


def _today() -> date:
    return datetime.now(UTC).date()


async def test_create_and_read_a_pet_with_its_owner(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    owner = await world.create_owner(RIVERSIDE_TECH, full_name="Morgan Keeper")
    response = await client.post(
        f"{API}/pets",
        json={"owner_id": owner["id"], **FULL_PET},
        headers=await world.h(RIVERSIDE_VET),
    )
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    pet = response.json()
    assert response.headers["location"] == f"{API}/pets/{pet['id']}"
    assert pet["name"] == "Captain Whiskers"
    assert pet["species"] == "cat"
    assert pet["microchip_id"] == "985112000123456"
    assert Decimal(str(pet["weight_kg"])) == Decimal("6.25")
    assert pet["date_of_birth"] == "2019-04-01"
    assert (pet["sex"], pet["colour"], pet["breed"]) == ("male", "tabby", "Maine Coon")
    assert (pet["neutered"], pet["allergies"], pet["notes"]) == (
        True,
        "penicillin",
        "Bites when bored.",
    )
    assert pet["is_active"] is True
    assert pet["version"] == 1
    assert pet["owner_id"] == owner["id"]
    assert pet["owner"] == owner
    assert UUID(pet["id"]).version == 7

    for email in (RIVERSIDE_TECH, RIVERSIDE_MANAGER, ADMIN):
        read = await client.get(f"{API}/pets/{pet['id']}", headers=await world.h(email))
        assert read.status_code == 200, read.text
        assert read.headers["etag"] == '"1"'
        assert read.json() == pet
    for email in (HILLCREST_VET, OWNER):
        assert_problem(
            await client.get(f"{API}/pets/{pet['id']}", headers=await world.h(email)), 404
        )
    assert_problem(await client.get(f"{API}/pets/{uuid4()}", headers=await world.h(ADMIN)), 404)

    # A PET_OWNER registers their own pets, not anyone else's.
    await world.new_pet_owner_user(SELF_OWNER)
    mine = await world.create_owner(SELF_OWNER, full_name="Self Owner")
    response = await client.post(
        f"{API}/pets",
        json={"owner_id": mine["id"], "name": "Pebble", "species": "rabbit"},
        headers=await world.h(SELF_OWNER),
    )
    assert response.status_code == 201, response.text
    assert response.json()["owner"]["user_id"] == mine["user_id"]
    assert response.json()["weight_kg"] is None

    before = await _pet_rows(app)
    minimal = {"name": "Ghost", "species": "dog"}
    cases = [
        (SELF_OWNER, owner["id"], 404),  # another owner's profile
        (HILLCREST_VET, owner["id"], 404),  # a client of another practice
        (RIVERSIDE_VET, str(uuid4()), 404),  # nobody
        (ADMIN, owner["id"], 403),  # the SYSTEM_ADMIN does not register pets
    ]
    for email, owner_id, status in cases:
        response = await client.post(
            f"{API}/pets", json={"owner_id": owner_id, **minimal}, headers=await world.h(email)
        )
        assert_problem(response, status)
    vet = await world.h(RIVERSIDE_VET)
    for bad, field in [
        ({"species": "dog"}, "name"),
        ({"name": "Rex"}, "species"),
        ({"name": "", "species": "dog"}, "name"),
        ({**minimal, "owner": "x"}, "owner"),
        ({**minimal, "version": 4}, "version"),
        ({**minimal, "is_active": False}, "is_active"),
        ({**minimal, "weight": 3}, "weight"),
        ({**minimal, "sex": "yes"}, "sex"),
        ({**minimal, "date_of_birth": "yesterday"}, "date_of_birth"),
    ]:
        response = await client.post(
            f"{API}/pets", json={"owner_id": owner["id"], **bad}, headers=vet
        )
        assert_problem(response, 422)
        assert field in error_fields(response), (bad, response.text)
    response = await client.post(
        f"{API}/pets", json={"owner_id": owner["id"], "name": "   ", "species": "dog"}, headers=vet
    )
    assert assert_problem(response, 422)["rule"] == "pet.name_required"
    response = await client.post(f"{API}/pets", json=minimal, headers=vet)
    assert "owner_id" in error_fields(response)
    assert await _pet_rows(app) == before


async def test_weight_and_date_of_birth_rules(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    owner = await world.create_owner(RIVERSIDE_TECH)
    vet = await world.h(RIVERSIDE_VET)

    async def create(**values: Any) -> Response:
        body = {"owner_id": owner["id"], "name": "Scale", "species": "horse", **values}
        return await client.post(f"{API}/pets", json=body, headers=vet)

    for weight in (0, "0", -1, "-0.5", "1500.001", 1501, "0.0001", "NaN", "Infinity"):
        response = await create(weight_kg=weight)
        assert_problem(response, 422)
        assert "weight_kg" in error_fields(response), (weight, response.text)
    tomorrow = _today() + timedelta(days=2)
    body = assert_problem(await create(date_of_birth=tomorrow.isoformat()), 422)
    assert body["rule"] == "pet.date_of_birth_in_future"
    assert body["field"] == "date_of_birth"
    assert await _pet_rows(app) == []

    for weight in ("1500", "0.001", 1500, "0.09"):
        response = await create(weight_kg=weight)
        assert response.status_code == 201, (weight, response.text)
        assert Decimal(str(response.json()["weight_kg"])) == Decimal(str(weight))
    response = await create(date_of_birth=(_today() - timedelta(days=1)).isoformat())
    assert response.status_code == 201, response.text

    # The same rules on update, and a refused update changes nothing.
    pet_id = response.json()["id"]
    before = await _pet_rows(app)
    for changes in ({"weight_kg": 0}, {"weight_kg": "1500.5"}, {"weight_kg": -3}):
        assert_problem(await _patch(world, RIVERSIDE_VET, pet_id, changes, '"1"'), 422)
    response = await _patch(
        world, RIVERSIDE_VET, pet_id, {"date_of_birth": tomorrow.isoformat()}, '"1"'
    )
    assert assert_problem(response, 422)["rule"] == "pet.date_of_birth_in_future"
    assert await _pet_rows(app) == before


async def test_microchip_ids_are_unique(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    riverside_owner = await world.create_owner(RIVERSIDE_TECH)
    hillcrest_owner = await world.create_owner(HILLCREST_TECH)
    first = await world.create_pet(
        RIVERSIDE_VET, riverside_owner["id"], name="Chipper", microchip_id="ab-123 456"
    )
    assert first["microchip_id"] == "AB-123456"
    other = await world.create_pet(RIVERSIDE_VET, riverside_owner["id"], name="Other")

    before = await _pet_rows(app)
    # The same chip, however written, and whoever registers it (even another practice).
    for email, owner_id, chip in [
        (RIVERSIDE_VET, riverside_owner["id"], "AB-123456"),
        (RIVERSIDE_TECH, riverside_owner["id"], " ab-123  456 "),
        (HILLCREST_VET, hillcrest_owner["id"], "ab-123456"),
    ]:
        response = await client.post(
            f"{API}/pets",
            json={"owner_id": owner_id, "name": "Copy", "species": "dog", "microchip_id": chip},
            headers=await world.h(email),
        )
        body = assert_problem(response, 409, "microchip-taken")
        assert "microchip" in body["detail"].lower()
        assert body["title"]
    # And on update: 409, and the pet is left as it was (same version).
    response = await _patch(world, RIVERSIDE_VET, other["id"], {"microchip_id": "Ab-123456"}, '"1"')
    assert_problem(response, 409, "microchip-taken")
    assert await _pet_rows(app) == before
    # Pets without a chip are many; a chip can be moved once freed.
    response = await _patch(world, RIVERSIDE_VET, first["id"], {"microchip_id": None}, '"1"')
    assert response.status_code == 200, response.text
    assert response.json()["microchip_id"] is None
    response = await _patch(world, RIVERSIDE_VET, other["id"], {"microchip_id": "AB-123456"}, '"1"')
    assert response.status_code == 200, response.text
    assert response.json()["microchip_id"] == "AB-123456"

    # Two registrations of one new chip at once: one wins, one is a clean 409.
    vet = await world.h(RIVERSIDE_VET)
    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/pets",
                json={
                    "owner_id": riverside_owner["id"],
                    "name": f"Racer{n}",
                    "species": "dog",
                    "microchip_id": "RACE-1",
                },
                headers=vet,
            )
            for n in range(3)
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409], [r.text for r in responses]


async def test_updates_need_the_current_version(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    owner = await world.create_owner(RIVERSIDE_TECH)
    pet = await world.create_pet(RIVERSIDE_VET, owner["id"], name="Dot", weight_kg="4.000")
    pid = pet["id"]

    before = await _pet_rows(app)
    assert_problem(await _patch(world, RIVERSIDE_VET, pid, {"name": "Spot"}, None), 428)
    assert_problem(await _patch(world, RIVERSIDE_VET, pid, {"name": "Spot"}, "*"), 428)
    for stale in ('"0"', '"2"', "2", '"x"', "garbage"):
        response = await _patch(world, RIVERSIDE_VET, pid, {"name": "Spot"}, stale)
        assert_problem(response, 412)
    assert await _pet_rows(app) == before

    response = await _patch(world, RIVERSIDE_VET, pid, {"name": "Spot", "colour": "white"}, '"1"')
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    updated = response.json()
    assert updated["version"] == 2
    assert (updated["name"], updated["colour"]) == ("Spot", "white")
    assert updated["species"] == "dog"  # untouched
    assert updated["updated_at"] > pet["updated_at"]
    # The old version is now stale.
    assert_problem(await _patch(world, RIVERSIDE_VET, pid, {"name": "Old"}, '"1"'), 412)
    # No actual change (the same values, however written): 200 and the same version.
    for changes in ({"name": "Spot"}, {"weight_kg": "4"}, {"species": " DOG "}, {}):
        response = await _patch(world, RIVERSIDE_VET, pid, changes, '"2"')
        assert response.status_code == 200, (changes, response.text)
        assert response.headers["etag"] == '"2"'
        assert response.json()["version"] == 2
    # A weak validator names the same version.
    response = await _patch(world, RIVERSIDE_TECH, pid, {"neutered": True}, 'W/"2"')
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"3"'
    read = await client.get(f"{API}/pets/{pid}", headers=await world.h(RIVERSIDE_VET))
    assert read.headers["etag"] == '"3"'
    assert read.json()["neutered"] is True

    # Refusals of every kind change nothing.
    before = await _pet_rows(app)
    for changes in (
        {"owner_id": str(uuid4())},
        {"version": 9},
        {"is_active": False},
        {"nickname": "D"},
        {"name": ""},
        {"sex": "other"},
    ):
        response = await _patch(world, RIVERSIDE_VET, pid, changes, '"3"')
        assert_problem(response, 422)
    for changes, rule in (
        ({"name": None}, "pet.name_required"),
        ({"species": None}, "pet.species_required"),
        ({"name": "   "}, "pet.name_required"),
    ):
        body = assert_problem(await _patch(world, RIVERSIDE_VET, pid, changes, '"3"'), 422)
        assert body["rule"] == rule, body
    assert_problem(await _patch(world, HILLCREST_VET, pid, {"name": "X"}, '"3"'), 404)
    assert_problem(await _patch(world, OWNER, pid, {"name": "X"}, '"3"'), 404)
    assert_problem(await _patch(world, ADMIN, pid, {"name": "X"}, '"3"'), 403)
    assert_problem(await _patch(world, RIVERSIDE_VET, str(uuid4()), {"name": "X"}, '"1"'), 404)
    assert await _pet_rows(app) == before

    # Two updates based on the same version: one wins, the other is told it is stale.
    responses = await asyncio.gather(
        _patch(world, RIVERSIDE_VET, pid, {"notes": "first"}, '"3"'),
        _patch(world, RIVERSIDE_TECH, pid, {"notes": "second"}, '"3"'),
    )
    assert sorted(r.status_code for r in responses) == [200, 412], [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    rows = await _pet_rows(app)
    assert rows[0]["notes"] == winner["notes"]
    assert rows[0]["version"] == 4

    # The owner updates their own pet too.
    await world.new_pet_owner_user(SELF_OWNER)
    mine = await world.create_owner(SELF_OWNER)
    own_pet = await world.create_pet(SELF_OWNER, mine["id"], name="Mine")
    response = await _patch(world, SELF_OWNER, own_pet["id"], {"allergies": "none"}, '"1"')
    assert response.status_code == 200, response.text
    assert response.json()["allergies"] == "none"


async def test_deactivate_and_reactivate(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    owner = await world.create_owner(RIVERSIDE_TECH)
    pet = await world.create_pet(RIVERSIDE_VET, owner["id"], name="Sleepy")
    awake = await world.create_pet(RIVERSIDE_VET, owner["id"], name="Awake")
    url = f"{API}/pets/{pet['id']}"
    vet = await world.h(RIVERSIDE_VET)

    async def listed(**params: Any) -> list[str]:
        response = await client.get(f"{API}/pets", params=params, headers=vet)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    before = await _pet_rows(app)
    for email, status in ((HILLCREST_VET, 404), (OWNER, 404), (ADMIN, 403)):
        response = await client.post(f"{url}/deactivate", headers=await world.h(email))
        assert_problem(response, status)
    assert await _pet_rows(app) == before

    response = await client.post(f"{url}/deactivate", headers=await world.h(RIVERSIDE_TECH))
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert response.json()["version"] == 2
    assert response.headers["etag"] == '"2"'
    again = await client.post(f"{url}/deactivate", headers=vet)
    assert again.status_code == 200
    assert again.json()["version"] == 2

    assert await listed() == [awake["id"]]
    assert await listed(include_inactive="true") == [awake["id"], pet["id"]]
    assert await listed(owner_id=owner["id"]) == [awake["id"]]
    read = await client.get(url, headers=vet)
    assert read.status_code == 200
    assert read.json()["is_active"] is False
    # Never deleted.
    assert len(await _pet_rows(app)) == 2

    response = await client.post(f"{url}/reactivate", headers=vet)
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is True
    assert response.json()["version"] == 3
    assert response.headers["etag"] == '"3"'
    assert await listed() == [awake["id"], pet["id"]]
    assert_problem(await client.post(f"{API}/pets/{uuid4()}/reactivate", headers=vet), 404)


async def test_list_filters_scope_and_order(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    ann = await world.create_owner(RIVERSIDE_TECH, full_name="Ann Alpha")
    bob = await world.create_owner(RIVERSIDE_TECH, full_name="Bob Beta")
    far = await world.create_owner(HILLCREST_TECH, full_name="Far Away")
    made: dict[str, dict[str, Any]] = {}
    for owner, name, species in [
        (ann, "Luna", "dog"),
        (ann, "Luna", "cat"),
        (bob, "Luna", "Dog"),
        (bob, "Apollo", "rabbit"),
        (ann, "Zeus", "DOG"),
        (bob, "Moonbeam", "cat"),
        (far, "Luna", "dog"),
    ]:
        pet = await world.create_pet(
            RIVERSIDE_VET if owner is not far else HILLCREST_VET,
            owner["id"],
            name=name,
            species=species,
        )
        made[pet["id"]] = pet
    hidden = next(i for i, p in made.items() if p["name"] == "Moonbeam")
    response = await client.post(
        f"{API}/pets/{hidden}/deactivate", headers=await world.h(RIVERSIDE_VET)
    )
    assert response.status_code == 200

    def expected(ids: list[str]) -> list[str]:
        return sorted(ids, key=lambda i: (made[i]["name"], UUID(i)))

    riverside = [i for i, p in made.items() if p["owner_id"] != far["id"]]
    active = [i for i in riverside if i != hidden]
    vet = await world.h(RIVERSIDE_VET)

    async def listed(headers: dict[str, str] | None = None, **params: Any) -> list[str]:
        response = await client.get(f"{API}/pets", params=params, headers=headers or vet)
        assert response.status_code == 200, response.text
        body = response.json()
        for item in body["items"]:
            assert item["owner"]["id"] == item["owner_id"]
        return [p["id"] for p in body["items"]]

    assert await listed() == expected(active)
    assert await listed(include_inactive=True) == expected(riverside)
    assert await listed(owner_id=ann["id"]) == expected(
        [i for i in active if made[i]["owner_id"] == ann["id"]]
    )
    dogs = expected([i for i in active if made[i]["species"] == "dog"])
    assert len(dogs) == 3
    assert await listed(species="dog") == dogs
    assert await listed(species="DOG") == dogs
    assert await listed(species="cat") == expected(
        [i for i in active if made[i]["species"] == "cat"]
    )
    assert await listed(species="cat", include_inactive=True) == expected(
        [i for i in riverside if made[i]["species"] == "cat"]
    )
    lunas = expected([i for i in active if made[i]["name"] == "Luna"])
    assert len(lunas) == 3
    assert await listed(q="lun") == lunas
    assert await listed(q="UNA", owner_id=bob["id"], species="dog") == [
        i for i in lunas if made[i]["owner_id"] == bob["id"]
    ]
    assert await listed(q="moon") == []
    assert await listed(q="moon", include_inactive=True) == [hidden]
    assert await listed(q="%") == []
    # Another practice's client never appears, not even when asked for by owner id.
    assert await listed(owner_id=far["id"]) == []
    assert await listed(await world.h(HILLCREST_VET)) == [
        i for i, p in made.items() if p["owner_id"] == far["id"]
    ]
    assert set(await listed(await world.h(ADMIN), include_inactive=True)) == set(made)
    assert await listed(await world.h(OWNER)) == []
    for params in ({"include_inactive": "perhaps"}, {"owner_id": "nope"}, {"species": ""}):
        response = await client.get(f"{API}/pets", params=params, headers=vet)
        assert_problem(response, 422)
