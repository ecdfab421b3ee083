"""/api/v1/practices: create, directory, read, update, deactivate, staff."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import (
    ADMIN,
    HILLCREST_MANAGER,
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
)
from tests.api.clients_helpers import assert_problem, error_fields, table_rows
from tests.fixtures.world import HILLCREST_NAME, RIVERSIDE_NAME, start
from vetchart.adapters.db.tables import practices
from vetchart.domain.practices import DIRECTORY_FIELDS

API = "/api/v1"
FULL_PRACTICE = {
    "name": "Meadowbank Veterinary Centre",
    "timezone": "Europe/Dublin",
    "email": "hello@meadowbank.example",
    "phone": "+353 1 555 0100",
    "address_line1": "1 Harbour Road",
    "address_line2": "Unit 4",
    "city": "Dublin",
    "region": "Leinster",
    "postal_code": "D02 X285",
    "country": "IE",
    "website": "https://meadowbank.example",
    "license_number": "VCI-77-001",
    "accepts_new_patients": False,
}
FULL_FIELDS = set(DIRECTORY_FIELDS) | {
    "license_number",
    "is_active",
    "version",
    "created_at",
    "updated_at",
}


async def _practice_rows(app: FastAPI) -> list[dict[str, Any]]:
    return await table_rows(app, practices)


async def test_system_admin_creates_a_practice_with_all_fields(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    admin = await world.h(ADMIN)

    response = await client.post(f"{API}/practices", json=FULL_PRACTICE, headers=admin)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == FULL_FIELDS
    assert {k: body[k] for k in FULL_PRACTICE} == FULL_PRACTICE
    assert body["is_active"] is True
    assert body["version"] == 1
    assert UUID(body["id"]).version == 7
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith(("Z", "+00:00"))

    read = await client.get(f"{API}/practices/{body['id']}", headers=admin)
    assert read.status_code == 200
    assert read.json() == body

    # Only a SYSTEM_ADMIN creates practices; nothing is created by anyone else.
    before = await _practice_rows(app)
    other = {**FULL_PRACTICE, "name": "Not Allowed", "license_number": None}
    for email in (RIVERSIDE_MANAGER, RIVERSIDE_VET, RIVERSIDE_TECH, OWNER):
        response = await client.post(f"{API}/practices", json=other, headers=await world.h(email))
        assert_problem(response, 403)
    # Required fields, unknown fields, and fields nobody may set here.
    for bad, field in [
        ({"timezone": "Europe/Dublin"}, "name"),
        ({"name": "No Zone"}, "timezone"),
        ({**other, "is_active": False}, "is_active"),
        ({**other, "version": 9}, "version"),
        ({**other, "id": str(uuid4())}, "id"),
        ({**other, "owner": "me"}, "owner"),
    ]:
        response = await client.post(f"{API}/practices", json=bad, headers=admin)
        assert_problem(response, 422)
        assert field in error_fields(response), (bad, response.text)
    assert (await client.post(f"{API}/practices", json=other)).status_code == 401
    assert await _practice_rows(app) == before


async def test_timezone_must_be_an_iana_name(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    admin = await world.h(ADMIN)
    before = await _practice_rows(app)
    for zone in ("Mars/Olympus_Mons", "europe/london", "GMT+25", "Europe/London ", "BST"):
        response = await client.post(
            f"{API}/practices", json={"name": "Zone Test", "timezone": zone}, headers=admin
        )
        body = assert_problem(response, 422)
        assert body["rule"] == "practice.timezone_invalid", (zone, body)
        assert body["field"] == "timezone"
    assert await _practice_rows(app) == before

    for zone in ("America/Argentina/Buenos_Aires", "Asia/Kolkata", "UTC"):
        response = await client.post(
            f"{API}/practices", json={"name": f"Zone {zone}", "timezone": zone}, headers=admin
        )
        assert response.status_code == 201, (zone, response.text)
        assert response.json()["timezone"] == zone

    # The same rule on update, and a refused update changes nothing.
    before = await _practice_rows(app)
    manager = await world.h(RIVERSIDE_MANAGER)
    for changes in ({"timezone": "Atlantis/Capital"}, {"timezone": None}):
        response = await client.patch(
            f"{API}/practices/{world.riverside}", json=changes, headers=manager
        )
        assert assert_problem(response, 422)["rule"] == "practice.timezone_invalid"
    assert await _practice_rows(app) == before


async def test_license_number_is_unique_when_present(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    admin = await world.h(ADMIN)

    async def create(name: str, **values: Any) -> Any:
        return await client.post(
            f"{API}/practices",
            json={"name": name, "timezone": "Europe/Paris", **values},
            headers=admin,
        )

    first = await create("Licensed One", license_number="FR-555")
    assert first.status_code == 201, first.text
    before = await _practice_rows(app)
    for variant in ("FR-555", "  FR-555 "):
        response = await create("Licensed Two", license_number=variant)
        assert_problem(response, 409, "license-number-taken")
    # The demo practice's license number is just as taken.
    assert_problem(await create("Licensed Three", license_number="RAC-1001"), 409)
    assert await _practice_rows(app) == before

    # Several practices without a license number are fine.
    for n in range(3):
        response = await create(f"Unlicensed {n}")
        assert response.status_code == 201, response.text
        assert response.json()["license_number"] is None
    assert (await create("Explicitly None", license_number=None)).status_code == 201

    # Taking another practice's number by PATCH is the same conflict, and changes nothing.
    before = await _practice_rows(app)
    response = await client.patch(
        f"{API}/practices/{world.hillcrest}", json={"license_number": "FR-555"}, headers=admin
    )
    assert_problem(response, 409, "license-number-taken")
    assert await _practice_rows(app) == before
    # Removing a license number (null) frees it for another practice.
    response = await client.patch(
        f"{API}/practices/{first.json()['id']}", json={"license_number": None}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["license_number"] is None
    assert (await create("Licensed Four", license_number="FR-555")).status_code == 201


async def test_directory_lists_active_practices_with_fields_by_audience(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    admin = await world.h(ADMIN)
    created = await client.post(
        f"{API}/practices",
        json={"name": "Aardvark Animal Hospital", "timezone": "Australia/Sydney"},
        headers=admin,
    )
    assert created.status_code == 201
    new_id = created.json()["id"]

    async def directory(email: str) -> list[dict[str, Any]]:
        response = await client.get(f"{API}/practices", headers=await world.h(email))
        assert response.status_code == 200, response.text
        assert response.json()["next_cursor"] is None
        return list(response.json()["items"])

    expected_names = ["Aardvark Animal Hospital", HILLCREST_NAME, RIVERSIDE_NAME]
    # A pet owner sees the directory fields only, of every active practice, by name.
    items = await directory(OWNER)
    assert [p["name"] for p in items] == expected_names
    for item in items:
        assert set(item) == set(DIRECTORY_FIELDS), item
    # Staff see every field of their own practice and the directory of the others.
    items = {p["name"]: p for p in await directory(RIVERSIDE_VET)}
    assert set(items[RIVERSIDE_NAME]) == FULL_FIELDS
    assert items[RIVERSIDE_NAME]["license_number"] == "RAC-1001"
    assert set(items[HILLCREST_NAME]) == set(DIRECTORY_FIELDS)
    items = {p["name"]: p for p in await directory(HILLCREST_MANAGER)}
    assert set(items[HILLCREST_NAME]) == FULL_FIELDS
    assert set(items[RIVERSIDE_NAME]) == set(DIRECTORY_FIELDS)
    # The SYSTEM_ADMIN sees everything.
    for item in await directory(ADMIN):
        assert set(item) == FULL_FIELDS
    # Single reads follow the same rule.
    single = await client.get(f"{API}/practices/{world.riverside}", headers=await world.h(OWNER))
    assert single.status_code == 200
    assert set(single.json()) == set(DIRECTORY_FIELDS)
    single = await client.get(
        f"{API}/practices/{world.riverside}", headers=await world.h(RIVERSIDE_TECH)
    )
    assert set(single.json()) == FULL_FIELDS
    assert (await client.get(f"{API}/practices")).status_code == 401

    # A deactivated practice leaves the directory for everyone.
    response = await client.post(f"{API}/practices/{new_id}/deactivate", headers=admin)
    assert response.status_code == 200, response.text
    for email in (OWNER, RIVERSIDE_VET, ADMIN):
        assert [p["name"] for p in await directory(email)] == [HILLCREST_NAME, RIVERSIDE_NAME]


async def test_practice_admin_and_system_admin_update_a_practice(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    url = f"{API}/practices/{world.riverside}"
    manager = await world.h(RIVERSIDE_MANAGER)

    response = await client.patch(
        url,
        json={"phone": "+44 20 7000 0000", "accepts_new_patients": False, "city": "  London"},
        headers=manager,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["phone"] == "+44 20 7000 0000"
    assert body["accepts_new_patients"] is False
    assert body["name"] == RIVERSIDE_NAME  # untouched fields stay
    assert body["version"] == 2
    assert body["updated_at"] > body["created_at"]

    response = await client.patch(
        url, json={"name": "Riverside Animal Clinic & Spa"}, headers=await world.h(ADMIN)
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Riverside Animal Clinic & Spa"
    assert response.json()["version"] == 3

    # The same values again: no new version.
    response = await client.patch(
        url, json={"name": "Riverside Animal Clinic & Spa"}, headers=manager
    )
    assert response.status_code == 200
    assert response.json()["version"] == 3

    before = await _practice_rows(app)
    # Another practice's admin, and staff who are not admins: 403.
    for email in (HILLCREST_MANAGER, RIVERSIDE_VET, RIVERSIDE_TECH, HILLCREST_VET, OWNER):
        response = await client.patch(url, json={"city": "Nowhere"}, headers=await world.h(email))
        assert_problem(response, 403)
    # Unknown or read-only fields, a blank name, a null name: 422.
    for changes in (
        {"is_active": False},
        {"version": 7},
        {"license": "X"},
        {"name": ""},
    ):
        response = await client.patch(url, json=changes, headers=manager)
        assert_problem(response, 422)
    response = await client.patch(url, json={"name": "   "}, headers=manager)
    assert assert_problem(response, 422)["rule"] == "practice.name_required"
    response = await client.patch(url, json={"name": None}, headers=manager)
    assert_problem(response, 422)
    response = await client.patch(url, json={"accepts_new_patients": None}, headers=manager)
    assert_problem(response, 422)
    assert await _practice_rows(app) == before

    missing = await client.patch(
        f"{API}/practices/{uuid4()}", json={"city": "X"}, headers=await world.h(ADMIN)
    )
    assert_problem(missing, 404)


async def test_deactivation_by_system_admin_only_and_its_effect(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    url = f"{API}/practices/{world.hillcrest}"
    for email in (HILLCREST_MANAGER, HILLCREST_VET, OWNER):
        response = await client.post(f"{url}/deactivate", headers=await world.h(email))
        assert_problem(response, 403)
    assert all(row["is_active"] for row in await _practice_rows(app))

    admin = await world.h(ADMIN)
    response = await client.post(f"{url}/deactivate", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert response.json()["version"] == 2
    # Idempotent: a second call changes nothing.
    again = await client.post(f"{url}/deactivate", headers=admin)
    assert again.status_code == 200
    assert again.json()["version"] == 2
    assert_problem(await client.post(f"{API}/practices/{uuid4()}/deactivate", headers=admin), 404)

    # Never deleted: the SYSTEM_ADMIN still reads it; for everyone else it is gone.
    read = await client.get(url, headers=admin)
    assert read.status_code == 200
    assert read.json()["is_active"] is False
    for email in (OWNER, RIVERSIDE_VET):
        assert_problem(await client.get(url, headers=await world.h(email)), 404)
    # Its own admin cannot read it, so cannot change it either; the SYSTEM_ADMIN can.
    before = await _practice_rows(app)
    for email in (HILLCREST_MANAGER, RIVERSIDE_MANAGER):
        response = await client.patch(url, json={"city": "Ghost"}, headers=await world.h(email))
        assert_problem(response, 404)
        response = await client.get(f"{url}/staff", headers=await world.h(email))
        assert response.status_code in (403, 404), response.text
    assert await _practice_rows(app) == before
    assert len(before) == 2
    response = await client.patch(url, json={"city": "Archive"}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    # Owners can no longer ask it to accept them.
    profile = await world.create_owner(OWNER)
    response = await client.post(
        f"{API}/associations",
        json={
            "pet_owner_id": profile["id"],
            "practice_id": str(world.hillcrest),
            "request_type": "new_client",
        },
        headers=await world.h(OWNER),
    )
    assert_problem(response, 404)


async def test_staff_list_is_for_the_practice_staff(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    url = f"{API}/practices/{world.riverside}/staff"
    expected = sorted(
        (world.users[e] for e in (RIVERSIDE_MANAGER, RIVERSIDE_VET, RIVERSIDE_TECH)),
        key=lambda u: (u.full_name, u.id),
    )
    for email in (RIVERSIDE_TECH, RIVERSIDE_VET, RIVERSIDE_MANAGER, ADMIN):
        response = await client.get(url, headers=await world.h(email))
        assert response.status_code == 200, (email, response.text)
        items = response.json()["items"]
        assert [item["id"] for item in items] == [str(u.id) for u in expected]
        assert items[0] == {
            "id": str(expected[0].id),
            "email": expected[0].email,
            "full_name": expected[0].full_name,
            "role": expected[0].role.value,
            "practice_id": str(world.riverside),
            "is_active": True,
        }
    for email in (HILLCREST_MANAGER, HILLCREST_VET, OWNER):
        assert_problem(await client.get(url, headers=await world.h(email)), 403)
    # Paged like every list.
    first = await client.get(url, params={"limit": 2}, headers=await world.h(RIVERSIDE_VET))
    assert len(first.json()["items"]) == 2
    rest = await client.get(
        url,
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
        headers=await world.h(RIVERSIDE_VET),
    )
    assert [i["id"] for i in first.json()["items"] + rest.json()["items"]] == [
        str(u.id) for u in expected
    ]
    assert rest.json()["next_cursor"] is None
    missing = await client.get(f"{API}/practices/{uuid4()}/staff", headers=await world.h(ADMIN))
    assert_problem(missing, 404)
