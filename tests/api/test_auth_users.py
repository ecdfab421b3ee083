"""/api/v1/users: own profile, listing with scope/filters/keyset pages, administration."""

from __future__ import annotations

import base64
import json
import uuid

from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import (
    ADMIN,
    API,
    DEMO_EMAILS,
    HILLCREST_MANAGER,
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    Tokens,
    audit_rows,
    get_user,
    login,
    login_ok,
    me,
    refresh,
    seed_demo,
)
from vetchart.domain.users import User

RIVERSIDE = {RIVERSIDE_MANAGER, RIVERSIDE_VET, RIVERSIDE_TECH}


async def list_users(client: AsyncClient, tokens: Tokens, **params: object):
    return await client.get(f"{API}/users", params=params, headers=tokens.headers)


async def all_pages(client: AsyncClient, tokens: Tokens, **params: object) -> list[list[dict]]:
    pages: list[list[dict]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await list_users(client, tokens, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "pagination does not end"


async def test_own_profile_read_and_update_without_mass_assignment(
    app: FastAPI, client: AsyncClient
):
    users = await seed_demo(app)
    tokens = await login_ok(client, RIVERSIDE_VET)
    profile = await me(client, tokens.access)
    assert profile.status_code == 200
    body = profile.json()
    vet = users[RIVERSIDE_VET]
    assert body["id"] == str(vet.id)
    assert body["role"] == "VET"
    assert body["practice_id"] == str(vet.practice_id)
    assert not {"password", "password_hash", "mfa_secret"} & body.keys()

    renamed = await client.patch(
        f"{API}/users/me", json={"full_name": "  Dr. Jonah   Q. Vet "}, headers=tokens.headers
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["full_name"] == "Dr. Jonah Q. Vet"
    assert (await me(client, tokens.access)).json()["full_name"] == "Dr. Jonah Q. Vet"

    other_practice = users[HILLCREST_VET].practice_id
    for forbidden in [
        {"role": "SYSTEM_ADMIN"},
        {"role": "VET"},
        {"practice_id": str(other_practice)},
        {"practice_id": None},
        {"is_active": False},
        {"email": "someone.else@example.com"},
        {"mfa_enabled": False},
        {"full_name": "Sneaky", "role": "PRACTICE_ADMIN"},
    ]:
        response = await client.patch(f"{API}/users/me", json=forbidden, headers=tokens.headers)
        assert response.status_code == 422, (forbidden, response.text)
        field = next(f for f in forbidden if f != "full_name")
        assert any(field in error["loc"] for error in response.json()["errors"])
    assert (
        await client.patch(f"{API}/users/me", json={"full_name": "  "}, headers=tokens.headers)
    ).status_code == 422

    stored = await get_user(app, RIVERSIDE_VET)
    assert stored is not None
    assert stored.full_name == "Dr. Jonah Q. Vet"
    assert stored.role is vet.role
    assert stored.practice_id == vet.practice_id
    assert stored.is_active is True
    assert stored.email == RIVERSIDE_VET
    assert (await client.get(f"{API}/users/me")).status_code == 401


async def test_user_list_is_scoped_by_role_and_filtered(app: FastAPI, client: AsyncClient):
    users = await seed_demo(app)
    admin = await login_ok(client, ADMIN)
    manager = await login_ok(client, RIVERSIDE_MANAGER)
    riverside = users[RIVERSIDE_MANAGER].practice_id
    hillcrest = users[HILLCREST_MANAGER].practice_id

    everyone = (await list_users(client, admin)).json()
    assert {u["email"] for u in everyone["items"]} == set(DEMO_EMAILS)
    assert everyone["next_cursor"] is None
    names = [u["full_name"] for u in everyone["items"]]
    assert names == sorted(names)  # documented order: full_name, then id

    own = (await list_users(client, manager)).json()["items"]
    assert {u["email"] for u in own} == RIVERSIDE
    # Filters narrow within the scope, never widen it.
    vets = (await list_users(client, manager, role="VET")).json()["items"]
    assert [u["email"] for u in vets] == [RIVERSIDE_VET]
    other = (await list_users(client, manager, practice_id=str(hillcrest))).json()["items"]
    assert other == []
    same = (await list_users(client, manager, practice_id=str(riverside))).json()["items"]
    assert {u["email"] for u in same} == RIVERSIDE
    by_name = (await list_users(client, manager, q="jonah")).json()["items"]
    assert [u["email"] for u in by_name] == [RIVERSIDE_VET]
    by_email = (await list_users(client, manager, q="TECH@riverside")).json()["items"]
    assert [u["email"] for u in by_email] == [RIVERSIDE_TECH]
    assert (await list_users(client, manager, q="%")).json()["items"] == []
    assert (await list_users(client, manager, q="Omar")).json()["items"] == []

    admin_filtered = (await list_users(client, admin, practice_id=str(hillcrest))).json()
    assert {u["email"] for u in admin_filtered["items"]} == {
        HILLCREST_MANAGER,
        HILLCREST_VET,
        "tech@hillcrest.vetchart.local",
    }
    owners = (await list_users(client, admin, role="PET_OWNER")).json()["items"]
    assert [u["email"] for u in owners] == [OWNER]
    assert (await list_users(client, admin, role="KING")).status_code == 422

    for email in (RIVERSIDE_VET, RIVERSIDE_TECH, OWNER):
        tokens = await login_ok(client, email)
        response = await list_users(client, tokens)
        assert response.status_code == 403, (email, response.text)
    assert (await client.get(f"{API}/users")).status_code == 401


async def test_user_list_pages_with_keyset_cursors(app: FastAPI, client: AsyncClient):
    await seed_demo(app)
    admin = await login_ok(client, ADMIN)
    manager = await login_ok(client, RIVERSIDE_MANAGER)

    full = (await list_users(client, admin)).json()["items"]
    pages = await all_pages(client, admin, limit=3)
    assert [len(page) for page in pages] == [3, 3, 2]
    assert [u["id"] for page in pages for u in page] == [u["id"] for u in full]
    single = await all_pages(client, manager, limit=1)
    assert [len(page) for page in single] == [1, 1, 1]
    assert {page[0]["email"] for page in single} == RIVERSIDE

    first = (await list_users(client, admin, limit=1, role="VET")).json()
    cursor = first["next_cursor"]
    assert cursor is not None
    second = await list_users(client, admin, limit=1, role="VET", cursor=cursor)
    assert second.status_code == 200
    assert second.json()["items"][0]["id"] != first["items"][0]["id"]

    # A cursor is bound to its filters.
    for params in [{}, {"role": "VET_STAFF"}, {"q": "vet"}, {"role": "VET", "q": "dr"}]:
        response = await list_users(client, admin, limit=1, cursor=cursor, **params)
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    # Forged or damaged cursors.
    body, signature = cursor.split(".", 1)
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["k"] = ["A", str(uuid.uuid4())]
    forged_body = (
        base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
        .rstrip(b"=")
        .decode()
    )
    for forged in [
        f"{forged_body}.{signature}",
        cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"),
        "not-a-cursor",
        "a.b",
        "",
    ]:
        response = await list_users(client, admin, limit=1, role="VET", cursor=forged)
        assert response.status_code == 400, (forged, response.text)

    for limit in (0, 201, -1, "ten"):
        response = await list_users(client, admin, limit=limit)
        assert response.status_code == 422, (limit, response.text)
    for limit in (1, 200):
        assert (await list_users(client, admin, limit=limit)).status_code == 200


async def test_role_changes_stay_within_staff_roles_and_the_admins_practice(
    app: FastAPI, client: AsyncClient
):
    users = await seed_demo(app)
    admin = await login_ok(client, ADMIN)
    manager = await login_ok(client, RIVERSIDE_MANAGER)
    tech_session = await login_ok(client, RIVERSIDE_TECH)

    def url(user: User) -> str:
        return f"{API}/users/{user.id}"

    tech, vet = users[RIVERSIDE_TECH], users[RIVERSIDE_VET]
    # Before: the technician cannot list users.
    assert (await list_users(client, tech_session)).status_code == 403
    promoted = await client.patch(
        url(tech), json={"role": "PRACTICE_ADMIN"}, headers=manager.headers
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["role"] == "PRACTICE_ADMIN"
    assert promoted.json()["practice_id"] == str(tech.practice_id)
    # The new role applies to the user's live session at once.
    assert (await list_users(client, tech_session)).status_code == 200
    demoted = await client.patch(url(tech), json={"role": "VET_STAFF"}, headers=manager.headers)
    assert demoted.status_code == 200
    assert (await list_users(client, tech_session)).status_code == 403

    # Never to or from non-staff roles.
    for target, role, actor in [
        (vet, "SYSTEM_ADMIN", manager),
        (vet, "PET_OWNER", manager),
        (vet, "SYSTEM_ADMIN", admin),
        (vet, "PET_OWNER", admin),
        (users[OWNER], "VET", admin),
        (users[HILLCREST_VET], "SYSTEM_ADMIN", admin),
    ]:
        response = await client.patch(url(target), json={"role": role}, headers=actor.headers)
        assert response.status_code == 403, (target.email, role, response.text)
    # Another practice's users (and practice-less users) do not exist for a practice admin.
    for target in (users[HILLCREST_VET], users[OWNER], users[ADMIN]):
        response = await client.patch(url(target), json={"role": "VET"}, headers=manager.headers)
        assert response.status_code == 404, (target.email, response.text)
        assert (await client.get(url(target), headers=manager.headers)).status_code == 404
    unknown = await client.patch(
        f"{API}/users/{uuid.uuid4()}", json={"role": "VET"}, headers=admin.headers
    )
    assert unknown.status_code == 404
    # Body validation: no unknown fields, only known roles.
    for body in [
        {"role": "OVERLORD"},
        {"practice_id": str(users[HILLCREST_VET].practice_id)},
        {"email": "x@example.com"},
        {"full_name": "Renamed"},
    ]:
        response = await client.patch(url(vet), json=body, headers=manager.headers)
        assert response.status_code == 422, (body, response.text)
    # Not on oneself.
    itself = await client.patch(
        url(users[RIVERSIDE_MANAGER]), json={"role": "VET"}, headers=manager.headers
    )
    assert itself.status_code == 409
    # Other roles: visible colleagues, forbidden action.
    vet_session = await login_ok(client, RIVERSIDE_VET)
    for target in (tech, users[RIVERSIDE_MANAGER]):
        response = await client.patch(
            url(target), json={"role": "VET"}, headers=vet_session.headers
        )
        assert response.status_code == 403, response.text
        response = await client.post(f"{url(target)}/unlock", headers=vet_session.headers)
        assert response.status_code == 403, response.text

    stored = await get_user(app, RIVERSIDE_VET)
    assert stored is not None
    assert stored.role.value == "VET"
    assert stored.practice_id == vet.practice_id
    updates = await audit_rows(app, "user.update")
    successes = [row for row in updates if row["outcome"] == "success"]
    assert len(successes) == 2
    assert successes[0]["details"]["role"] == "PRACTICE_ADMIN"
    # Each refused attempt above is on record too.
    assert {row["outcome"] for row in updates} == {"success", "denied"}


async def test_deactivation_revokes_every_session_at_once(app: FastAPI, client: AsyncClient):
    users = await seed_demo(app)
    manager = await login_ok(client, RIVERSIDE_MANAGER)
    vet_sessions = [await login_ok(client, RIVERSIDE_VET) for _ in range(2)]
    for tokens in vet_sessions:
        assert (await me(client, tokens.access)).status_code == 200  # cached now
    url = f"{API}/users/{users[RIVERSIDE_VET].id}"

    response = await client.patch(url, json={"is_active": False}, headers=manager.headers)
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    for tokens in vet_sessions:
        gone = await me(client, tokens.access)
        assert gone.status_code == 401
        assert gone.headers["www-authenticate"] == "Bearer"
        assert (await refresh(client, tokens.refresh)).status_code == 401
    assert (await login(client, RIVERSIDE_VET)).status_code == 401
    listed = (await list_users(client, manager, role="VET")).json()["items"]
    assert [u["is_active"] for u in listed] == [False]

    # Reactivation lets the user sign in again; the revoked sessions stay revoked.
    response = await client.patch(url, json={"is_active": True}, headers=manager.headers)
    assert response.status_code == 200
    fresh = await login_ok(client, RIVERSIDE_VET)
    assert (await me(client, fresh.access)).status_code == 200
    for tokens in vet_sessions:
        assert (await me(client, tokens.access)).status_code == 401

    # A practice admin cannot deactivate another practice's users; nobody deactivates self.
    other = await client.patch(
        f"{API}/users/{users[HILLCREST_VET].id}", json={"is_active": False}, headers=manager.headers
    )
    assert other.status_code == 404
    me_off = await client.patch(
        f"{API}/users/{users[RIVERSIDE_MANAGER].id}",
        json={"is_active": False},
        headers=manager.headers,
    )
    assert me_off.status_code == 409
    assert (await me(client, manager.access)).status_code == 200
    rows = [r for r in await audit_rows(app, "user.update") if r["outcome"] == "success"]
    assert rows[0]["details"]["is_active"] is False
    assert rows[0]["details"]["revoked_sessions"] == 2
