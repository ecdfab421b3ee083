"""Associations of pet owners with practices: the workflow, who decides, and its effect."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from fastapi import FastAPI
from httpx import AsyncClient, Response

from tests.api.auth_helpers import (
    ADMIN,
    HILLCREST_MANAGER,
    HILLCREST_TECH,
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
)
from tests.api.clients_helpers import assert_problem, error_fields, table_rows
from tests.fixtures.world import World, start
from vetchart.adapters.db.tables import practice_associations

API = "/api/v1"
OWNER_USER = "pat.owner@example.com"


async def _request(
    world: World, email: str, owner_id: str, practice_id: UUID, request_type: str = "new_client"
) -> Response:
    return await world.client.post(
        f"{API}/associations",
        json={
            "pet_owner_id": owner_id,
            "practice_id": str(practice_id),
            "request_type": request_type,
        },
        headers=await world.h(email),
    )


async def _decide(world: World, email: str, association_id: str, decision: str) -> Response:
    return await world.client.post(
        f"{API}/associations/{association_id}/{decision}", headers=await world.h(email)
    )


async def _association_rows(app: FastAPI) -> list[dict[str, Any]]:
    return await table_rows(app, practice_associations)


async def _own_profile(world: World, email: str = OWNER_USER) -> dict[str, Any]:
    await world.new_pet_owner_user(email, "Pat Owner")
    return await world.create_owner(email, full_name="Pat Owner")


async def test_the_workflow_moves_only_along_its_edges_recording_who_and_when(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    profile = await _own_profile(world)
    owner_id = profile["id"]
    pet = await world.create_pet(OWNER_USER, owner_id, name="Nimbus", species="cat")
    pet_url = f"{API}/pets/{pet['id']}"
    owner_url = f"{API}/pet-owners/{owner_id}"
    vet = await world.h(RIVERSIDE_VET)

    response = await _request(world, OWNER_USER, owner_id, world.riverside)
    assert response.status_code == 201, response.text
    pending = response.json()
    assert pending["status"] == "pending"
    assert pending["request_type"] == "new_client"
    assert pending["pet_owner_id"] == owner_id
    assert pending["practice_id"] == str(world.riverside)
    assert pending["requested_by"] == profile["user_id"]
    assert pending["decided_by"] is None
    assert pending["decided_at"] is None
    assert pending["deactivated_by"] is None
    assert pending["deactivated_at"] is None
    aid = pending["id"]

    # Pending is not enough for staff to see the owner or the pets.
    assert_problem(await client.get(owner_url, headers=vet), 404)
    assert_problem(await client.get(pet_url, headers=vet), 404)

    before = await _association_rows(app)
    # Who may not decide: VET_STAFF, the SYSTEM_ADMIN and the owner, who all see the
    # association (403); another practice's staff do not see it (404).
    for email in (RIVERSIDE_TECH, ADMIN, OWNER_USER):
        assert_problem(await _decide(world, email, aid, "approve"), 403)
    for email in (HILLCREST_VET, HILLCREST_MANAGER):
        assert_problem(await _decide(world, email, aid, "approve"), 404)
    # Off the edges: pending cannot become inactive.
    body = assert_problem(await _decide(world, RIVERSIDE_MANAGER, aid, "deactivate"), 409)
    assert body["type"].endswith("illegal-transition")
    assert (body["from"], body["to"]) == ("pending", "inactive")
    assert_problem(await _decide(world, RIVERSIDE_VET, str(uuid4()), "approve"), 404)
    assert await _association_rows(app) == before

    response = await _decide(world, RIVERSIDE_VET, aid, "approve")
    assert response.status_code == 200, response.text
    approved = response.json()
    assert approved["status"] == "approved"
    assert approved["decided_by"] == str(world.users[RIVERSIDE_VET].id)
    decided_at = datetime.fromisoformat(approved["decided_at"])
    assert decided_at >= datetime.fromisoformat(pending["created_at"])
    assert approved["deactivated_at"] is None

    # Now the practice's staff see the owner and the pets.
    for email in (RIVERSIDE_VET, RIVERSIDE_TECH):
        headers = await world.h(email)
        assert (await client.get(owner_url, headers=headers)).status_code == 200
        assert (await client.get(pet_url, headers=headers)).status_code == 200
        listed = await client.get(f"{API}/pets", headers=headers)
        assert pet["id"] in [p["id"] for p in listed.json()["items"]]
    assert_problem(await client.get(pet_url, headers=await world.h(HILLCREST_VET)), 404)

    before = await _association_rows(app)
    for decision in ("approve", "reject"):
        body = assert_problem(await _decide(world, RIVERSIDE_MANAGER, aid, decision), 409)
        assert body["from"] == "approved"
    assert await _association_rows(app) == before

    response = await _decide(world, RIVERSIDE_MANAGER, aid, "deactivate")
    assert response.status_code == 200, response.text
    inactive = response.json()
    assert inactive["status"] == "inactive"
    assert inactive["deactivated_by"] == str(world.users[RIVERSIDE_MANAGER].id)
    assert datetime.fromisoformat(inactive["deactivated_at"]) >= decided_at
    # The decision stays on record.
    assert inactive["decided_by"] == approved["decided_by"]
    assert inactive["decided_at"] == approved["decided_at"]

    # After deactivation the staff no longer see the owner or the pets.
    for email in (RIVERSIDE_VET, RIVERSIDE_TECH):
        headers = await world.h(email)
        assert_problem(await client.get(owner_url, headers=headers), 404)
        assert_problem(await client.get(pet_url, headers=headers), 404)
        listed = await client.get(f"{API}/pets", headers=headers)
        assert pet["id"] not in [p["id"] for p in listed.json()["items"]]
        owners = await client.get(f"{API}/pet-owners", headers=headers)
        assert owner_id not in [o["id"] for o in owners.json()["items"]]
    # Inactive is final.
    before = await _association_rows(app)
    for decision in ("approve", "reject", "deactivate"):
        body = assert_problem(await _decide(world, RIVERSIDE_MANAGER, aid, decision), 409)
        assert body["from"] == "inactive"
    assert await _association_rows(app) == before

    # A new request is possible once nothing is open; a second open one is not.
    response = await _request(world, OWNER_USER, owner_id, world.riverside, "transfer")
    assert response.status_code == 201, response.text
    second = response.json()
    assert second["status"] == "pending"
    before = await _association_rows(app)
    for request_type in ("transfer", "emergency"):
        response = await _request(world, OWNER_USER, owner_id, world.riverside, request_type)
        assert_problem(response, 409, "association-exists")
    assert await _association_rows(app) == before

    response = await _decide(world, RIVERSIDE_MANAGER, second["id"], "reject")
    assert response.status_code == 200, response.text
    rejected = response.json()
    assert rejected["status"] == "rejected"
    assert rejected["decided_by"] == str(world.users[RIVERSIDE_MANAGER].id)
    assert rejected["decided_at"] is not None
    assert rejected["deactivated_at"] is None
    before = await _association_rows(app)
    for decision in ("approve", "reject", "deactivate"):
        body = assert_problem(await _decide(world, RIVERSIDE_VET, second["id"], decision), 409)
        assert body["from"] == "rejected"
    assert await _association_rows(app) == before
    assert_problem(await client.get(owner_url, headers=vet), 404)

    # The database row agrees with the responses.
    rows = {str(r["id"]): r for r in await _association_rows(app)}
    assert rows[aid]["status"] == "inactive"
    assert rows[aid]["decided_by"] == world.users[RIVERSIDE_VET].id
    assert rows[aid]["deactivated_by"] == world.users[RIVERSIDE_MANAGER].id
    assert rows[second["id"]]["status"] == "rejected"


async def test_staff_associate_clients_with_their_own_practice_only(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    client_of_riverside = await world.create_owner(RIVERSIDE_TECH, full_name="Quinn Shared")
    owner_id = client_of_riverside["id"]

    before = await _association_rows(app)
    # For another practice: 403; the SYSTEM_ADMIN does not create associations.
    assert_problem(await _request(world, RIVERSIDE_VET, owner_id, world.hillcrest), 403)
    assert_problem(await _request(world, ADMIN, owner_id, world.hillcrest), 403)
    # An open one exists already for Riverside: 409.
    response = await _request(world, RIVERSIDE_MANAGER, owner_id, world.riverside, "referral")
    assert_problem(response, 409, "association-exists")
    # An unknown owner: the answer an owner out of scope gets (201 pending, awaiting the
    # owner), but nothing is stored (test_association_consent.py compares the two).
    response = await _request(world, HILLCREST_VET, str(uuid4()), world.hillcrest)
    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["awaiting"]) == ("pending", "owner")
    # Bad input: 422.
    for bad, field in [
        ({"request_type": "adoption"}, "request_type"),
        ({"status": "approved"}, "status"),
        ({"pet_owner_id": "not-a-uuid"}, "pet_owner_id"),
    ]:
        body = {
            "pet_owner_id": owner_id,
            "practice_id": str(world.hillcrest),
            "request_type": "referral",
            **bad,
        }
        response = await client.post(
            f"{API}/associations", json=body, headers=await world.h(HILLCREST_VET)
        )
        assert_problem(response, 422)
        assert field in error_fields(response)
    # An owner cannot ask on behalf of someone else's profile.
    await world.new_pet_owner_user(OWNER_USER)
    assert_problem(await _request(world, OWNER_USER, owner_id, world.hillcrest), 404)
    assert await _association_rows(app) == before

    # Staff linking another practice's client to their own: pending until the owner
    # consents, and the owner stays out of their sight meanwhile.
    response = await _request(world, HILLCREST_TECH, owner_id, world.hillcrest, "referral")
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["status"], created["awaiting"]) == ("pending", "owner")
    assert created["requested_by"] == str(world.users[HILLCREST_TECH].id)
    assert created["decided_by"] is None
    assert created["decided_at"] is None
    read = await client.get(f"{API}/pet-owners/{owner_id}", headers=await world.h(HILLCREST_VET))
    assert_problem(read, 404)

    # Staff linking a client their own practice created: approved at once (here again,
    # after the first association was deactivated).
    first = next(r for r in await _association_rows(app) if r["practice_id"] == world.riverside)
    response = await _decide(world, RIVERSIDE_MANAGER, str(first["id"]), "deactivate")
    assert response.status_code == 200, response.text
    response = await _request(world, RIVERSIDE_TECH, owner_id, world.riverside, "referral")
    assert response.status_code == 201, response.text
    relinked = response.json()
    assert (relinked["status"], relinked["awaiting"]) == ("approved", None)
    assert relinked["decided_by"] == str(world.users[RIVERSIDE_TECH].id)
    assert relinked["requested_by"] == str(world.users[RIVERSIDE_TECH].id)
    assert relinked["decided_at"] is not None
    read = await client.get(f"{API}/pet-owners/{owner_id}", headers=await world.h(RIVERSIDE_VET))
    assert read.status_code == 200


async def test_a_practice_not_accepting_new_patients_refuses_new_client_requests(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    profile = await _own_profile(world)
    response = await client.patch(
        f"{API}/practices/{world.hillcrest}",
        json={"accepts_new_patients": False},
        headers=await world.h(HILLCREST_MANAGER),
    )
    assert response.status_code == 200
    response = await _request(world, OWNER_USER, profile["id"], world.hillcrest, "new_client")
    assert_problem(response, 409, "practice-not-accepting-new-patients")
    assert await _association_rows(app) == []
    response = await _request(world, OWNER_USER, profile["id"], world.hillcrest, "emergency")
    assert response.status_code == 201, response.text


async def test_concurrent_requests_and_decisions_have_one_winner(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    profile = await _own_profile(world)
    await world.h(RIVERSIDE_VET)
    await world.h(RIVERSIDE_MANAGER)
    responses = await asyncio.gather(
        *(_request(world, OWNER_USER, profile["id"], world.riverside) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409], [
        r.text for r in responses
    ]
    aid = next(r.json()["id"] for r in responses if r.status_code == 201)
    responses = await asyncio.gather(
        _decide(world, RIVERSIDE_VET, aid, "approve"),
        _decide(world, RIVERSIDE_MANAGER, aid, "reject"),
        _decide(world, RIVERSIDE_VET, aid, "approve"),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409], [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    rows = await _association_rows(app)
    assert len(rows) == 1
    assert rows[0]["status"] == winner["status"]
    assert str(rows[0]["decided_by"]) == winner["decided_by"]


async def test_association_lists_for_a_practice_and_for_an_owner(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    profile = await _own_profile(world)
    owner_id = profile["id"]
    other = await world.create_owner(RIVERSIDE_TECH, full_name="Robin Staffmade")
    first = (await _request(world, OWNER_USER, owner_id, world.riverside)).json()
    second = (await _request(world, OWNER_USER, owner_id, world.hillcrest, "emergency")).json()
    approved = (await _decide(world, HILLCREST_VET, second["id"], "approve")).json()
    assert approved["status"] == "approved"

    async def listed(email: str, url: str, **params: Any) -> list[dict[str, Any]]:
        response = await client.get(url, params=params, headers=await world.h(email))
        assert response.status_code == 200, (email, url, response.text)
        return list(response.json()["items"])

    riverside_url = f"{API}/practices/{world.riverside}/associations"
    items = await listed(RIVERSIDE_TECH, riverside_url)
    # Newest first.
    other_association = next(
        r for r in await _association_rows(app) if str(r["pet_owner_id"]) == other["id"]
    )
    assert [i["id"] for i in items] == [first["id"], str(other_association["id"])]
    assert items[0]["owner_name"] == "Pat Owner"
    assert items[0]["practice_name"] == "Riverside Animal Clinic"
    pending = await listed(RIVERSIDE_VET, riverside_url, status="pending")
    assert [i["id"] for i in pending] == [first["id"]]
    assert [i["id"] for i in await listed(RIVERSIDE_VET, riverside_url, status="approved")] == [
        str(other_association["id"])
    ]
    assert await listed(RIVERSIDE_VET, riverside_url, status="rejected") == []
    assert len(await listed(ADMIN, riverside_url)) == 2
    for email in (HILLCREST_VET, OWNER_USER):
        response = await client.get(riverside_url, headers=await world.h(email))
        assert_problem(response, 403)
    response = await client.get(
        riverside_url, params={"status": "maybe"}, headers=await world.h(RIVERSIDE_VET)
    )
    assert_problem(response, 422)
    response = await client.get(
        f"{API}/practices/{uuid4()}/associations", headers=await world.h(ADMIN)
    )
    assert_problem(response, 404)
    # Paged, newest first, without repeats.
    page = await client.get(
        riverside_url, params={"limit": 1}, headers=await world.h(RIVERSIDE_VET)
    )
    rest = await client.get(
        riverside_url,
        params={"limit": 1, "cursor": page.json()["next_cursor"]},
        headers=await world.h(RIVERSIDE_VET),
    )
    assert [i["id"] for i in page.json()["items"] + rest.json()["items"]] == [
        first["id"],
        str(other_association["id"]),
    ]

    # The owner's own list: every practice; staff (in scope): their practice's only.
    owner_url = f"{API}/pet-owners/{owner_id}/associations"
    mine = await listed(OWNER_USER, owner_url)
    assert [i["id"] for i in mine] == [second["id"], first["id"]]
    assert {i["status"] for i in mine} == {"approved", "pending"}
    hillcrest_view = await listed(HILLCREST_TECH, owner_url)
    assert [i["id"] for i in hillcrest_view] == [second["id"]]
    assert len(await listed(ADMIN, owner_url)) == 2
    # Out of scope (pending only with Riverside, or someone else's): 404.
    for email in (RIVERSIDE_VET, OWNER):
        assert_problem(await client.get(owner_url, headers=await world.h(email)), 404)
