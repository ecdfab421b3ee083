"""Consent for associations (issue 13, item 1): a practice's staff link an owner to their
practice at once only when their practice created that owner; any other owner must approve
the link from their own account, and until then the practice learns nothing - not even
whether the owner id exists.

The attacks replayed here, each by a practice's staff (Hillcrest's, against a client that
Riverside created, or against the demo-less owner's own profile):
- link someone else's client by id and read them at once (was: approved at once);
- approve, reject or deactivate their own pending request (must look like an unknown id);
- find the request in their practice's association list, or in the owner's;
- tell an existing owner id from an unknown one by the request's answer, its headers, its
  audit row, a second request (409?), or by what the audit search shows afterwards;
and by an owner: approve their own request to a practice, or another owner's link.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from tests.api.audit_checks import audit_rows as request_audit_rows
from tests.api.auth_helpers import (
    ADMIN,
    HILLCREST_MANAGER,
    HILLCREST_TECH,
    HILLCREST_VET,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    same_problem,
)
from tests.api.clients_helpers import assert_problem, table_rows
from tests.fixtures.world import HILLCREST_NAME, World, start
from vetchart.adapters.db.tables import pet_owners, practice_associations

API = "/api/v1"
OWNER_USER = "sam.consent@example.com"
OTHER_OWNER_USER = "alex.stranger@example.com"
HILLCREST_STAFF = (HILLCREST_TECH, HILLCREST_VET, HILLCREST_MANAGER)
DECISIONS = ("approve", "reject", "deactivate")
# Members of an association's answer that differ between any two requests.
PER_REQUEST_FIELDS = {"id", "pet_owner_id", "created_at", "updated_at"}
# Response headers whose values differ between any two requests.
PER_REQUEST_HEADERS = {"x-request-id", "date", "ratelimit-remaining", "ratelimit-reset"}


async def request_link(
    world: World, email: str, owner_id: str | UUID, practice_id: UUID, kind: str = "referral"
) -> Response:
    return await world.client.post(
        f"{API}/associations",
        json={"pet_owner_id": str(owner_id), "practice_id": str(practice_id), "request_type": kind},
        headers=await world.h(email),
    )


async def decide(world: World, email: str, association_id: str, decision: str) -> Response:
    return await world.client.post(
        f"{API}/associations/{association_id}/{decision}", headers=await world.h(email)
    )


async def association_rows(app: FastAPI) -> dict[str, dict[str, Any]]:
    return {str(r["id"]): r for r in await table_rows(app, practice_associations)}


async def listed_ids(world: World, email: str, url: str, **params: Any) -> list[str]:
    response = await world.client.get(url, params=params, headers=await world.h(email))
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def only_audit_row(app: FastAPI, response: Response) -> dict[str, Any]:
    rows = await request_audit_rows(app, response.headers["x-request-id"])
    assert len(rows) == 1, rows
    return rows[0]


async def riverside_client(world: World) -> tuple[str, str]:
    """A client Riverside's front desk created (no account), with a pet: (owner, pet)."""
    owner = await world.create_owner(RIVERSIDE_TECH, full_name="Quinn Riverside")
    pet = await world.create_pet(RIVERSIDE_TECH, owner["id"], name="Pepper")
    return owner["id"], pet["id"]


async def own_profile(world: World, email: str = OWNER_USER) -> tuple[str, str]:
    """A PET_OWNER's own profile (signed up, self-made) with a pet: (owner, pet)."""
    await world.new_pet_owner_user(email, "Sam Consent")
    owner = await world.create_owner(email, full_name="Sam Consent")
    pet = await world.create_pet(email, owner["id"], name="Miso", species="cat")
    return owner["id"], pet["id"]


async def assert_out_of_sight(world: World, owner_id: str, pet_id: str) -> None:
    """Hillcrest's staff can read neither the owner nor the pet, by id or in a list."""
    for email in HILLCREST_STAFF:
        headers = await world.h(email)
        for url in (
            f"{API}/pet-owners/{owner_id}",
            f"{API}/pets/{pet_id}",
            f"{API}/pet-owners/{owner_id}/associations",
        ):
            assert_problem(await world.client.get(url, headers=headers), 404)
        assert owner_id not in await listed_ids(world, email, f"{API}/pet-owners")
        assert pet_id not in await listed_ids(world, email, f"{API}/pets")


async def assert_looks_unknown(world: World, association_id: str) -> None:
    """Every step on the association answers exactly what an unknown id answers, for
    every Hillcrest staff member, and changes nothing."""
    before = await association_rows(world.app)
    for email in HILLCREST_STAFF:
        for decision in DECISIONS:
            hidden = await decide(world, email, association_id, decision)
            unknown = await decide(world, email, str(uuid4()), decision)
            assert_problem(hidden, 404)
            same_problem(hidden, unknown)
            denial = await only_audit_row(world.app, hidden)
            assert (denial["action"], denial["outcome"]) == (f"association.{decision}", "denied")
            assert denial["resource_id"] == association_id
    assert await association_rows(world.app) == before


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("requester", [HILLCREST_TECH, HILLCREST_MANAGER])
async def test_staff_request_for_another_practices_client_stays_pending_and_hidden(
    app: FastAPI, client: AsyncClient, requester: str
) -> None:
    world = await start(app, client)
    owner_id, pet_id = await riverside_client(world)

    response = await request_link(world, requester, owner_id, world.hillcrest)
    assert response.status_code == 201, response.text
    link = response.json()
    assert link["status"] == "pending"
    assert link["awaiting"] == "owner"
    assert link["requested_by"] == str(world.users[requester].id)
    assert (link["decided_by"], link["decided_at"]) == (None, None)
    row = (await association_rows(app))[link["id"]]
    assert row["status"] == "pending"
    assert row["awaiting"] == "owner"

    # The practice gained nothing: not the owner, not the pet, not the link itself.
    await assert_out_of_sight(world, owner_id, pet_id)
    await assert_looks_unknown(world, link["id"])
    hillcrest_links = f"{API}/practices/{world.hillcrest}/associations"
    for email in HILLCREST_STAFF:
        assert link["id"] not in await listed_ids(world, email, hillcrest_links)
        for status in ("pending", "rejected"):
            listed = await listed_ids(world, email, hillcrest_links, status=status)
            assert link["id"] not in listed
    # The SYSTEM_ADMIN sees every association.
    assert link["id"] in await listed_ids(world, ADMIN, hillcrest_links)
    # The creating practice still has its client, and does not see Hillcrest's request.
    riverside_view = f"{API}/pet-owners/{owner_id}/associations"
    assert link["id"] not in await listed_ids(world, RIVERSIDE_VET, riverside_view)

    # Asking again is not a 409 (that would tell the id exists): the same answer again.
    again = await request_link(world, requester, owner_id, world.hillcrest)
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "pending"
    assert again.json()["awaiting"] == "owner"
    assert len(await association_rows(app)) == 2  # Riverside's own, and this one request


async def test_the_owner_approves_and_then_the_practice_reads_them(
    app: FastAPI, client: AsyncClient
) -> None:
    world = await start(app, client)
    owner_id, pet_id = await own_profile(world)
    profile = (
        await client.get(f"{API}/pet-owners/{owner_id}", headers=await world.h(OWNER_USER))
    ).json()

    link = (await request_link(world, HILLCREST_TECH, owner_id, world.hillcrest)).json()
    assert link["status"] == "pending"
    assert link["awaiting"] == "owner"
    await assert_out_of_sight(world, owner_id, pet_id)

    # The owner sees the request, pending, in their own list.
    mine = await client.get(
        f"{API}/pet-owners/{owner_id}/associations", headers=await world.h(OWNER_USER)
    )
    assert mine.status_code == 200, mine.text
    (listed,) = [i for i in mine.json()["items"] if i["id"] == link["id"]]
    assert listed["status"] == "pending"
    assert listed["awaiting"] == "owner"
    assert listed["practice_name"] == HILLCREST_NAME

    # Another PET_OWNER cannot answer for them (not theirs: 404).
    await world.new_pet_owner_user(OTHER_OWNER_USER, "Alex Stranger")
    await world.create_owner(OTHER_OWNER_USER, full_name="Alex Stranger")
    for decision in ("approve", "reject"):
        assert_problem(await decide(world, OTHER_OWNER_USER, link["id"], decision), 404)
    # Deactivating is the practice's step, never the owner's.
    assert_problem(await decide(world, OWNER_USER, link["id"], "deactivate"), 403)

    response = await decide(world, OWNER_USER, link["id"], "approve")
    assert response.status_code == 200, response.text
    approved = response.json()
    assert approved["status"] == "approved"
    assert approved["decided_by"] == profile["user_id"]
    assert approved["decided_at"] is not None

    # Now Hillcrest sees the owner, the pet and the association like any approved one.
    for email in HILLCREST_STAFF:
        headers = await world.h(email)
        assert (
            await client.get(f"{API}/pet-owners/{owner_id}", headers=headers)
        ).status_code == 200
        assert (await client.get(f"{API}/pets/{pet_id}", headers=headers)).status_code == 200
        assert pet_id in await listed_ids(world, email, f"{API}/pets")
        assert link["id"] in await listed_ids(
            world, email, f"{API}/practices/{world.hillcrest}/associations", status="approved"
        )
    # The owner's consent is given: what follows (deactivation) is the practice's step.
    assert_problem(await decide(world, OWNER_USER, link["id"], "approve"), 403)
    # The practice may end it, as any approved association.
    response = await decide(world, HILLCREST_MANAGER, link["id"], "deactivate")
    assert response.status_code == 200, response.text
    await assert_out_of_sight(world, owner_id, pet_id)


async def test_the_owner_rejects_and_the_practice_stays_out(
    app: FastAPI, client: AsyncClient
) -> None:
    world = await start(app, client)
    owner_id, pet_id = await own_profile(world)
    link = (await request_link(world, HILLCREST_MANAGER, owner_id, world.hillcrest)).json()

    response = await decide(world, OWNER_USER, link["id"], "reject")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"

    await assert_out_of_sight(world, owner_id, pet_id)
    # Refused, the request stays out of the practice's sight (a visible "rejected" would
    # tell the practice the owner exists).
    await assert_looks_unknown(world, link["id"])
    for status in (None, "rejected"):
        params = {} if status is None else {"status": status}
        listed = await listed_ids(
            world, HILLCREST_MANAGER, f"{API}/practices/{world.hillcrest}/associations", **params
        )
        assert link["id"] not in listed
    # The owner keeps the refusal on their list; their answer is final.
    mine = await listed_ids(world, OWNER_USER, f"{API}/pet-owners/{owner_id}/associations")
    assert link["id"] in mine
    assert_problem(await decide(world, OWNER_USER, link["id"], "approve"), 403)

    # The practice may ask again: a new pending request, the same answer as the first.
    again = await request_link(world, HILLCREST_MANAGER, owner_id, world.hillcrest)
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "pending"
    assert again.json()["awaiting"] == "owner"
    assert again.json()["id"] != link["id"]


async def test_an_unknown_owner_id_gets_the_answer_an_out_of_scope_owner_gets(
    app: FastAPI, client: AsyncClient
) -> None:
    world = await start(app, client)
    owner_id, _ = await riverside_client(world)
    missing_id = str(uuid4())
    before = await association_rows(app)

    real = await request_link(world, HILLCREST_VET, owner_id, world.hillcrest)
    fake = await request_link(world, HILLCREST_VET, missing_id, world.hillcrest)

    # The answers: same status, same headers, same body but for the per-request members.
    assert (real.status_code, fake.status_code) == (201, 201), (real.text, fake.text)
    assert set(real.headers) == set(fake.headers)
    for name in set(real.headers) - PER_REQUEST_HEADERS - {"content-length"}:
        assert real.headers[name] == fake.headers[name], name
    real_body, fake_body = real.json(), fake.json()
    assert set(real_body) == set(fake_body)
    for key in set(real_body) - PER_REQUEST_FIELDS:
        assert real_body[key] == fake_body[key], key
    assert (real_body["pet_owner_id"], fake_body["pet_owner_id"]) == (owner_id, missing_id)
    assert fake_body["status"] == "pending"
    assert fake_body["requested_by"] == str(world.users[HILLCREST_VET].id)

    # Their audit rows: the same row, each naming its own (returned) id.
    rows = [await only_audit_row(app, r) for r in (real, fake)]
    for row, response in zip(rows, (real, fake), strict=True):
        assert row["resource_id"] == response.json()["id"]
    same_keys = ("action", "outcome", "resource_type", "practice_id", "actor_id", "actor_role")
    assert [tuple(r[k] for k in same_keys) for r in rows] == [
        (
            "association.create",
            "success",
            "association",
            world.hillcrest,
            world.users[HILLCREST_VET].id,
            "VET",
        )
    ] * 2
    # Alike but for the owner id each asked for (recorded: probing ids leaves a trace).
    assert [r["details"].pop("pet_owner_id") for r in rows] == [owner_id, missing_id]
    assert (
        rows[0]["details"]
        == rows[1]["details"]
        == {
            "status": "pending",
            "request_type": "referral",
            "awaiting": "owner",
        }
    )
    # ... and the practice admin's audit search shows them alike.
    search = await client.get(
        f"{API}/audit-events",
        params={"action": "association.create"},
        headers=await world.h(HILLCREST_MANAGER),
    )
    assert search.status_code == 200, search.text
    found = {item["resource_id"]: item for item in search.json()["items"]}
    per_row = {"id", "resource_id", "occurred_at", "request_id"}
    real_shown, fake_shown = (
        {k: v for k, v in found[r.json()["id"]].items() if k not in per_row} for r in (real, fake)
    )
    assert [shown["details"].pop("pet_owner_id") for shown in (real_shown, fake_shown)] == [
        owner_id,
        missing_id,
    ]
    assert real_shown == fake_shown
    assert real_shown["details"] == {
        "status": "pending",
        "request_type": "referral",
        "awaiting": "owner",
    }

    # Only the real one is stored; the fake id is no association at all.
    after = await association_rows(app)
    assert set(after) - set(before) == {real_body["id"]}

    # What follows is alike too: decisions, lists, and a second request each.
    for decision in DECISIONS:
        same_problem(
            await decide(world, HILLCREST_MANAGER, real_body["id"], decision),
            await decide(world, HILLCREST_MANAGER, fake_body["id"], decision),
        )
    listed = await listed_ids(
        world, HILLCREST_MANAGER, f"{API}/practices/{world.hillcrest}/associations"
    )
    assert real_body["id"] not in listed
    assert fake_body["id"] not in listed
    for target in (owner_id, missing_id):
        again = await request_link(world, HILLCREST_VET, target, world.hillcrest)
        assert again.status_code == 201, again.text
        assert {k: v for k, v in again.json().items() if k not in PER_REQUEST_FIELDS} == {
            k: v for k, v in fake_body.items() if k not in PER_REQUEST_FIELDS
        }
    assert set(await association_rows(app)) == set(after)


async def test_the_practice_that_created_the_owner_links_them_at_once(
    app: FastAPI, client: AsyncClient
) -> None:
    world = await start(app, client)
    owner_id, pet_id = await riverside_client(world)
    (owner_row,) = await table_rows(app, pet_owners, pet_owners.c.id == UUID(owner_id))
    assert owner_row["created_by_practice_id"] == world.riverside
    (first,) = (await association_rows(app)).values()
    assert first["status"] == "approved"
    assert first["awaiting"] is None

    response = await decide(world, RIVERSIDE_MANAGER, str(first["id"]), "deactivate")
    assert response.status_code == 200, response.text
    assert_problem(
        await client.get(f"{API}/pets/{pet_id}", headers=await world.h(RIVERSIDE_VET)), 404
    )

    # Riverside's own client: linked again at once, by any of its staff.
    response = await request_link(world, RIVERSIDE_TECH, owner_id, world.riverside, "transfer")
    assert response.status_code == 201, response.text
    relinked = response.json()
    assert relinked["status"] == "approved"
    assert relinked["awaiting"] is None
    assert relinked["decided_by"] == str(world.users[RIVERSIDE_TECH].id)
    for email in (RIVERSIDE_TECH, RIVERSIDE_VET):
        headers = await world.h(email)
        assert (await client.get(f"{API}/pets/{pet_id}", headers=headers)).status_code == 200
    # Open already: 409, as ever (the practice sees this owner: no oracle).
    assert_problem(
        await request_link(world, RIVERSIDE_VET, owner_id, world.riverside),
        409,
        "association-exists",
    )
    # A profile the owner made themselves belongs to no practice.
    self_made, _ = await own_profile(world)
    (row,) = await table_rows(app, pet_owners, pet_owners.c.id == UUID(self_made))
    assert row["created_by_practice_id"] is None


async def test_an_owners_request_is_still_decided_by_the_practice_not_the_owner(
    app: FastAPI, client: AsyncClient
) -> None:
    world = await start(app, client)
    owner_id, pet_id = await own_profile(world)
    response = await request_link(world, OWNER_USER, owner_id, world.riverside, "new_client")
    assert response.status_code == 201, response.text
    asked = response.json()
    assert asked["status"] == "pending"
    assert asked["awaiting"] == "practice"
    # The practice sees the owner's request (and may decide it); the owner may not.
    assert asked["id"] in await listed_ids(
        world, RIVERSIDE_TECH, f"{API}/practices/{world.riverside}/associations", status="pending"
    )
    for decision in ("approve", "reject"):
        assert_problem(await decide(world, OWNER_USER, asked["id"], decision), 403)
    assert_problem(await decide(world, RIVERSIDE_TECH, asked["id"], "approve"), 403)
    response = await decide(world, RIVERSIDE_MANAGER, asked["id"], "approve")
    assert response.status_code == 200, response.text
    assert response.json()["decided_by"] == str(world.users[RIVERSIDE_MANAGER].id)
    assert (
        await client.get(f"{API}/pets/{pet_id}", headers=await world.h(RIVERSIDE_TECH))
    ).status_code == 200
    # Once the owner is Riverside's client, Riverside's staff asking again is the usual 409.
    assert_problem(
        await request_link(world, RIVERSIDE_VET, owner_id, world.riverside),
        409,
        "association-exists",
    )


async def test_every_step_leaves_its_audit_row(app: FastAPI, client: AsyncClient) -> None:
    world = await start(app, client)
    owner_id, _ = await own_profile(world)
    owner_user_id = (
        await client.get(f"{API}/pet-owners/{owner_id}", headers=await world.h(OWNER_USER))
    ).json()["user_id"]
    made_here, _ = await riverside_client(world)

    def expect(
        row: dict[str, Any],
        action: str,
        actor: str | None,
        practice: UUID | None,
        details: dict[str, Any],
        resource_id: str,
    ) -> None:
        actor_id = UUID(owner_user_id) if actor is None else world.users[actor].id
        assert (row["action"], row["outcome"], row["resource_type"]) == (
            action,
            "success",
            "association",
        ), row
        assert (row["actor_id"], row["practice_id"], row["resource_id"]) == (
            actor_id,
            practice,
            resource_id,
        ), row
        assert row["details"] == details, row

    # An owner's request, and the practice's decision.
    asked = await request_link(world, OWNER_USER, owner_id, world.riverside, "new_client")
    expect(
        await only_audit_row(app, asked),
        "association.create",
        None,
        world.riverside,
        {
            "status": "pending",
            "request_type": "new_client",
            "awaiting": "practice",
            "pet_owner_id": owner_id,
        },
        asked.json()["id"],
    )
    decided = await decide(world, RIVERSIDE_VET, asked.json()["id"], "approve")
    expect(
        await only_audit_row(app, decided),
        "association.approve",
        RIVERSIDE_VET,
        world.riverside,
        {"from": "pending", "to": "approved", "awaiting": "practice"},
        asked.json()["id"],
    )

    # A staff request for someone else's owner, and the owner's approval.
    pending = await request_link(world, HILLCREST_TECH, owner_id, world.hillcrest)
    expect(
        await only_audit_row(app, pending),
        "association.create",
        HILLCREST_TECH,
        world.hillcrest,
        {
            "status": "pending",
            "request_type": "referral",
            "awaiting": "owner",
            "pet_owner_id": owner_id,
        },
        pending.json()["id"],
    )
    consent = await decide(world, OWNER_USER, pending.json()["id"], "approve")
    expect(
        await only_audit_row(app, consent),
        "association.approve",
        None,
        world.hillcrest,
        {"from": "pending", "to": "approved", "awaiting": "owner"},
        pending.json()["id"],
    )
    ended = await decide(world, HILLCREST_MANAGER, pending.json()["id"], "deactivate")
    expect(
        await only_audit_row(app, ended),
        "association.deactivate",
        HILLCREST_MANAGER,
        world.hillcrest,
        {"from": "approved", "to": "inactive", "awaiting": "owner"},
        pending.json()["id"],
    )

    # A second request, refused by the owner: the row names no practice, so the refusal
    # does not show in the requesting practice's audit search.
    again = await request_link(world, HILLCREST_MANAGER, owner_id, world.hillcrest)
    refusal = await decide(world, OWNER_USER, again.json()["id"], "reject")
    expect(
        await only_audit_row(app, refusal),
        "association.reject",
        None,
        None,
        {"from": "pending", "to": "rejected", "awaiting": "owner"},
        again.json()["id"],
    )
    search = await client.get(
        f"{API}/audit-events",
        params={"resource_id": again.json()["id"]},
        headers=await world.h(HILLCREST_MANAGER),
    )
    assert search.status_code == 200, search.text
    assert {item["action"] for item in search.json()["items"]} == {"association.create"}

    # A staff request for their own practice's client: approved at once.
    first = next(
        r for r in (await association_rows(app)).values() if str(r["pet_owner_id"]) == made_here
    )
    await decide(world, RIVERSIDE_MANAGER, str(first["id"]), "deactivate")
    relinked = await request_link(world, RIVERSIDE_TECH, made_here, world.riverside)
    expect(
        await only_audit_row(app, relinked),
        "association.create",
        RIVERSIDE_TECH,
        world.riverside,
        {
            "status": "approved",
            "request_type": "referral",
            "awaiting": None,
            "pet_owner_id": made_here,
        },
        relinked.json()["id"],
    )
