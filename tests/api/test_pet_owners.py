"""/api/v1/pet-owners: create (staff and PET_OWNER), list with q, read, update."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

from fastapi import FastAPI
from httpx import AsyncClient

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
from tests.fixtures.world import start
from vetchart.adapters.db.tables import pet_owners, practice_associations

API = "/api/v1"


async def test_staff_create_a_client_approved_with_their_practice_at_once(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    body = {
        "full_name": "  Jo   Client ",
        "email": " Jo.Client@Example.COM",
        "phone": "+44 20 7946 1234",
        "address": "3 Mill Lane, Oxford",
        "preferred_communication": "sms",
    }
    response = await client.post(
        f"{API}/pet-owners", json=body, headers=await world.h(RIVERSIDE_TECH)
    )
    assert response.status_code == 201, response.text
    owner = response.json()
    assert owner["full_name"] == "Jo Client"
    assert owner["email"] == "jo.client@example.com"
    assert owner["phone"] == "+44 20 7946 1234"
    assert owner["address"] == "3 Mill Lane, Oxford"
    assert owner["preferred_communication"] == "sms"
    assert owner["user_id"] is None
    assert {"id", "created_at", "updated_at"} <= set(owner)

    tech = world.users[RIVERSIDE_TECH]
    rows = await table_rows(app, practice_associations)
    assert len(rows) == 1
    association = rows[0]
    assert association["pet_owner_id"] == UUID(owner["id"])
    assert association["practice_id"] == world.riverside
    assert association["status"] == "approved"
    assert association["request_type"] == "new_client"
    assert association["requested_by"] == tech.id
    assert association["decided_by"] == tech.id
    assert association["decided_at"] is not None

    # Visible at once to the practice's staff and the SYSTEM_ADMIN, to nobody else.
    for email in (RIVERSIDE_VET, RIVERSIDE_MANAGER, ADMIN):
        read = await client.get(f"{API}/pet-owners/{owner['id']}", headers=await world.h(email))
        assert read.status_code == 200, (email, read.text)
        assert read.json() == owner
    for email in (HILLCREST_VET, OWNER):
        read = await client.get(f"{API}/pet-owners/{owner['id']}", headers=await world.h(email))
        assert_problem(read, 404)
    listed = await client.get(
        f"{API}/pet-owners/{owner['id']}/associations", headers=await world.h(RIVERSIDE_VET)
    )
    assert [a["status"] for a in listed.json()["items"]] == ["approved"]

    # A SYSTEM_ADMIN does not create clients; invalid input is refused; nothing is made.
    before = await table_rows(app, pet_owners)
    response = await client.post(
        f"{API}/pet-owners", json={"full_name": "Nope"}, headers=await world.h(ADMIN)
    )
    assert_problem(response, 403)
    staff = await world.h(RIVERSIDE_TECH)
    for bad, field in [
        ({}, "full_name"),
        ({"full_name": ""}, "full_name"),
        ({"full_name": "A", "preferred_communication": "pigeon"}, "preferred_communication"),
        ({"full_name": "A", "user_id": str(tech.id)}, "user_id"),
        ({"full_name": "A", "practice_id": str(world.hillcrest)}, "practice_id"),
        ({"full_name": "A", "is_vip": True}, "is_vip"),
    ]:
        response = await client.post(f"{API}/pet-owners", json=bad, headers=staff)
        assert_problem(response, 422)
        assert field in error_fields(response), (bad, response.text)
    response = await client.post(f"{API}/pet-owners", json={"full_name": "   "}, headers=staff)
    assert assert_problem(response, 422)["rule"] == "full_name.required"
    response = await client.post(
        f"{API}/pet-owners", json={"full_name": "A", "email": "nope"}, headers=staff
    )
    assert assert_problem(response, 422)["rule"] == "email.invalid"
    assert await table_rows(app, pet_owners) == before
    assert len(await table_rows(app, practice_associations)) == 1


async def test_a_pet_owner_creates_their_own_profile_once(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    user_id = await world.new_pet_owner_user("casey@example.com")
    headers = await world.h("casey@example.com")

    response = await client.post(
        f"{API}/pet-owners",
        json={"full_name": "Casey Fields", "phone": "07700 900123"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    profile = response.json()
    assert profile["user_id"] == str(user_id)
    # No practice is involved until the owner asks one.
    assert await table_rows(app, practice_associations) == []
    listed = await client.get(f"{API}/pet-owners", headers=headers)
    assert [o["id"] for o in listed.json()["items"]] == [profile["id"]]
    assert (await client.get(f"{API}/pet-owners/{profile['id']}", headers=headers)).json() == (
        profile
    )
    # Staff do not see it (no association).
    assert_problem(
        await client.get(f"{API}/pet-owners/{profile['id']}", headers=await world.h(RIVERSIDE_VET)),
        404,
    )

    before = await table_rows(app, pet_owners)
    again = await client.post(f"{API}/pet-owners", json={"full_name": "Casey Two"}, headers=headers)
    assert_problem(again, 409, "owner-profile-exists")
    assert await table_rows(app, pet_owners) == before

    # Two at once still make one profile (the second is a clean 409, never a 500).
    await world.new_pet_owner_user("dana@example.com", "Dana Racer")
    dana = await world.h("dana@example.com")
    responses = await asyncio.gather(
        *(
            client.post(f"{API}/pet-owners", json={"full_name": f"Dana {n}"}, headers=dana)
            for n in range(4)
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409], [
        r.text for r in responses
    ]
    assert len(await table_rows(app, pet_owners)) == len(before) + 1


async def test_list_is_scoped_ordered_and_searchable(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    made: dict[str, dict[str, Any]] = {}
    for staff, name, email, phone in [
        (RIVERSIDE_TECH, "Zoe Abbott", "zoe.abbott@example.com", "+44 20 7946 1111"),
        (RIVERSIDE_VET, "Adam Brook", "adam.b@mailbox.example", "+44 20 7946 2222"),
        (RIVERSIDE_TECH, "Adam Brook", None, "+1 212 555 0199"),
        (RIVERSIDE_MANAGER, "Mona_Lisa 100%", "mona@example.org", None),
        (HILLCREST_TECH, "Hilda Hill", "hilda@example.com", "+44 20 7946 3333"),
    ]:
        values = {"full_name": name, "email": email, "phone": phone}
        owner = await world.create_owner(staff, **{k: v for k, v in values.items() if v})
        made[owner["id"]] = owner
    riverside_ids = [i for i, o in made.items() if o["full_name"] != "Hilda Hill"]
    expected = sorted(riverside_ids, key=lambda i: (made[i]["full_name"], UUID(i)))
    vet = await world.h(RIVERSIDE_VET)

    async def ids(headers: dict[str, str], **params: Any) -> list[str]:
        response = await client.get(f"{API}/pet-owners", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()["items"]]

    assert await ids(vet) == expected
    hilda = next(i for i, o in made.items() if o["full_name"] == "Hilda Hill")
    assert await ids(await world.h(HILLCREST_VET)) == [hilda]
    assert set(await ids(await world.h(ADMIN))) == set(made)

    by_name = {made[i]["full_name"]: i for i in riverside_ids}
    zoe, mona = by_name["Zoe Abbott"], by_name["Mona_Lisa 100%"]
    adams = [i for i in expected if made[i]["full_name"] == "Adam Brook"]
    adam_by_mail = next(i for i in adams if made[i]["email"])
    adam_by_phone = next(i for i in adams if made[i]["phone"].startswith("+1"))
    assert await ids(vet, q="adam") == adams  # name, any case, in list order
    assert await ids(vet, q="ZOE.ABB") == [zoe]  # email
    assert await ids(vet, q="mailbox") == [adam_by_mail]
    assert await ids(vet, q="7946 1111") == [zoe]  # phone
    assert await ids(vet, q="555 0199") == [adam_by_phone]
    assert await ids(vet, q="hilda") == []  # out of scope stays out of scope
    # LIKE wildcards are literal characters ("a_l" as a pattern would match "mailbox").
    assert await ids(vet, q="%") == [mona]
    assert await ids(vet, q="a_l") == [mona]
    assert await ids(vet, q="nobody-matches-this") == []
    response = await client.get(f"{API}/pet-owners", params={"q": ""}, headers=vet)
    assert_problem(response, 422)


async def test_update_changes_only_what_is_sent_and_refuses_bad_input(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    owner = await world.create_owner(
        RIVERSIDE_TECH, full_name="Pat Lee", email="pat@example.com", phone="123"
    )
    url = f"{API}/pet-owners/{owner['id']}"
    vet = await world.h(RIVERSIDE_VET)

    response = await client.patch(
        url, json={"phone": " +44 1865 000000 ", "preferred_communication": "phone"}, headers=vet
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["phone"] == "+44 1865 000000"
    assert updated["preferred_communication"] == "phone"
    assert updated["full_name"] == "Pat Lee"
    assert updated["email"] == "pat@example.com"
    assert updated["updated_at"] > owner["updated_at"]
    # null clears an optional field.
    response = await client.patch(url, json={"email": None}, headers=vet)
    assert response.status_code == 200
    assert response.json()["email"] is None
    # The change is searchable at once.
    found = await client.get(f"{API}/pet-owners", params={"q": "1865"}, headers=vet)
    assert [o["id"] for o in found.json()["items"]] == [owner["id"]]

    before = await table_rows(app, pet_owners)
    for bad in (
        {"nickname": "P"},
        {"user_id": str(world.users[OWNER].id)},
        {"id": str(uuid4())},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"phone": "+44", "unknown": 1},
        {"preferred_communication": "fax"},
        {"full_name": ""},
    ):
        response = await client.patch(url, json=bad, headers=vet)
        assert_problem(response, 422)
    for bad, rule in (
        ({"full_name": None}, "full_name.required"),
        ({"full_name": "   "}, "full_name.required"),
        ({"email": "not-an-email"}, "email.invalid"),
    ):
        body = assert_problem(await client.patch(url, json=bad, headers=vet), 422)
        assert body["rule"] == rule, body
    # Out of scope: 404 for another practice's staff and for other owners.
    for email in (HILLCREST_VET, OWNER):
        response = await client.patch(url, json={"phone": "999"}, headers=await world.h(email))
        assert_problem(response, 404)
    assert_problem(
        await client.patch(f"{API}/pet-owners/{uuid4()}", json={"phone": "1"}, headers=vet), 404
    )
    assert await table_rows(app, pet_owners) == before

    # A PET_OWNER updates their own profile.
    await world.new_pet_owner_user("self@example.com")
    me = await world.h("self@example.com")
    mine = (
        await client.post(f"{API}/pet-owners", json={"full_name": "Self Person"}, headers=me)
    ).json()
    response = await client.patch(
        f"{API}/pet-owners/{mine['id']}", json={"address": "9 High Street"}, headers=me
    )
    assert response.status_code == 200, response.text
    assert response.json()["address"] == "9 High Street"
    assert response.json()["user_id"] == mine["user_id"]
