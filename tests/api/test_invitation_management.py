"""Invitation management: a practice's list (GET /practices/{id}/invitations), revoking
(POST /invitations/{id}/revoke) and accepting with an existing account (POST
/invitations/accept-existing). Who may call what is in test_scope_matrix.py; here: the
states, the filters, the rules for existing accounts, bad input, statement counts."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import select

from tests.api.auth_helpers import (
    ADMIN,
    DEMO_PASSWORD,
    HILLCREST_MANAGER,
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    STRONG_PASSWORD,
    audit_rows,
    login,
    login_ok,
    me,
)
from tests.api.clients_helpers import assert_problem, error_fields
from tests.api.sql_counter import counted_request
from tests.fixtures.world import World, start
from vetchart.adapters.db.tables import auth_sessions, staff_invitations
from vetchart.domain.users import Role

API = "/api/v1"


async def _invite(world: World, email: str, role: str = "VET", inviter: str = RIVERSIDE_MANAGER):
    response = await world.client.post(
        f"{API}/practices/{world.riverside}/invitations",
        json={"email": email, "role": role},
        headers=await world.h(inviter),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _list(world: World, query: str = "", who: str = RIVERSIDE_MANAGER) -> Response:
    return await world.client.get(
        f"{API}/practices/{world.riverside}/invitations{query}", headers=await world.h(who)
    )


async def _revoke(world: World, invitation_id: str, who: str = RIVERSIDE_MANAGER) -> Response:
    return await world.client.post(
        f"{API}/invitations/{invitation_id}/revoke", headers=await world.h(who)
    )


async def _accept_existing(world: World, token: str, headers: dict[str, str]) -> Response:
    return await world.client.post(
        f"{API}/invitations/accept-existing", json={"token": token}, headers=headers
    )


def _ids(response: Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def _age(app: FastAPI, invitation_id: str, days: int) -> None:
    """Move an invitation's times ``days`` into the past (expired after 7)."""
    async with app.state.container.engine.begin() as conn:
        row = (
            await conn.execute(
                select(staff_invitations).where(staff_invitations.c.id == UUID(invitation_id))
            )
        ).one()
        await conn.execute(
            staff_invitations.update()
            .where(staff_invitations.c.id == UUID(invitation_id))
            .values(
                created_at=row.created_at - timedelta(days=days),
                expires_at=row.expires_at - timedelta(days=days),
            )
        )


async def test_the_list_shows_each_state_newest_first_and_never_a_token(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    world.use_mailer()
    pending = await _invite(world, "pending.one@example.com")
    newer = await _invite(world, "pending.two@example.com", role="VET_STAFF")
    revoked = await _invite(world, "revoked@example.com")
    expired = await _invite(world, "expired@example.com")
    accepted = await _invite(world, "accepted@example.com")
    assert (await _revoke(world, revoked["id"])).status_code == 200
    await _age(app, expired["id"], 8)
    response = await client.post(
        f"{API}/invitations/accept",
        json={"token": accepted["token"], "password": STRONG_PASSWORD, "full_name": "Acc Epted"},
    )
    assert response.status_code == 201, response.text
    # Hillcrest's invitation is not in Riverside's list.
    await world.client.post(
        f"{API}/practices/{world.hillcrest}/invitations",
        json={"email": "elsewhere@example.com", "role": "VET"},
        headers=await world.h(HILLCREST_MANAGER),
    )

    default = await _list(world)
    assert _ids(default) == [newer["id"], pending["id"]]  # pending, newest first
    assert _ids(await _list(world, "?status=pending")) == _ids(default)
    assert _ids(await _list(world, "?status=revoked")) == [revoked["id"]]
    assert _ids(await _list(world, "?status=expired")) == [expired["id"]]
    assert _ids(await _list(world, "?status=accepted")) == [accepted["id"]]
    everything = await _list(world, "?status=all")
    assert set(_ids(everything)) == {i["id"] for i in (pending, newer, revoked, expired, accepted)}
    for item in everything.json()["items"]:
        assert "token" not in item
        assert "token_hash" not in item
        assert item["practice_id"] == str(world.riverside)
    states = {item["id"]: item for item in everything.json()["items"]}
    assert states[revoked["id"]]["status"] == "revoked"
    assert states[revoked["id"]]["revoked_by"] == str(world.users[RIVERSIDE_MANAGER].id)
    assert states[expired["id"]]["status"] == "expired"
    assert states[accepted["id"]]["status"] == "accepted"
    assert states[accepted["id"]]["accepted_user_id"] is not None
    assert states[pending["id"]]["invited_by"] == str(world.users[RIVERSIDE_MANAGER].id)

    # Pages of one, following the cursor; a cursor of another filter is refused.
    first = await _list(world, "?status=all&limit=1")
    seen = _ids(first)
    cursor = first.json()["next_cursor"]
    while cursor:
        page = await _list(world, f"?status=all&limit=1&cursor={cursor}")
        seen += _ids(page)
        cursor = page.json()["next_cursor"]
    assert seen == _ids(everything)
    assert_problem(
        await _list(world, f"?status=pending&limit=1&cursor={first.json()['next_cursor']}"), 400
    )
    # Bad filters: 422 naming the parameter.
    for bad in ("?status=open", "?status=", "?limit=0", "?limit=201"):
        response = await _list(world, bad)
        assert_problem(response, 422)
    assert "status" in error_fields(await _list(world, "?status=open"))
    # SYSTEM_ADMIN sees them too.
    assert _ids(await _list(world, who=ADMIN)) == _ids(default)


async def test_the_list_sends_a_constant_number_of_statements(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    world.use_mailer()
    headers = await world.h(RIVERSIDE_MANAGER)
    url = f"{API}/practices/{world.riverside}/invitations?status=all"
    assert (await client.get(url, headers=headers)).status_code == 200  # the session cached
    counts = []
    for batch in range(3):
        for n in range(batch * 4):
            await _invite(world, f"count{batch}-{n}@example.com")
        response, counter = await counted_request(app, client, "GET", url, headers=headers)
        assert response.status_code == 200
        counts.append(counter.count)
    assert len(_ids(response)) == 4 + 8
    assert counts[0] == counts[1] == counts[2], counts
    assert counts[0] <= 3, counts


async def test_revoking_makes_the_token_gone_and_is_audited(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    world.use_mailer()
    invitation = await _invite(world, "to.revoke@example.com")
    response = await _revoke(world, invitation["id"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "revoked"
    assert body["revoked_at"]
    assert "token" not in body
    rows = await audit_rows(app, "invitation.revoke")
    assert len(rows) == 1
    assert rows[0]["resource_id"] == invitation["id"]
    assert rows[0]["practice_id"] == world.riverside
    assert rows[0]["details"] == {"role": "VET", "was": "pending"}
    # Revoking again changes nothing and writes nothing.
    again = await _revoke(world, invitation["id"])
    assert again.status_code == 200
    assert again.json()["revoked_at"] == body["revoked_at"]
    assert len(await audit_rows(app, "invitation.revoke")) == 1
    # The token is gone: for a new account, and for an existing one.
    response = await client.post(
        f"{API}/invitations/accept",
        json={"token": invitation["token"], "password": STRONG_PASSWORD, "full_name": "Too Late"},
    )
    assert_problem(response, 410, "invitation-invalid")
    await world.add_user("to.revoke@example.com", Role.PET_OWNER, sign_in=True)
    response = await _accept_existing(
        world, invitation["token"], world.headers["to.revoke@example.com"]
    )
    assert_problem(response, 410, "invitation-invalid")


async def test_an_accepted_invitation_cannot_be_revoked(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    world.use_mailer()
    invitation = await _invite(world, "taken.up@example.com")
    accepted = await client.post(
        f"{API}/invitations/accept",
        json={"token": invitation["token"], "password": STRONG_PASSWORD, "full_name": "Tay Kenup"},
    )
    assert accepted.status_code == 201
    assert_problem(await _revoke(world, invitation["id"]), 409, "invitation-accepted")
    assert await audit_rows(app, "invitation.revoke") == []
    # Not an id: 422; an unknown one: 404.
    assert_problem(await _revoke(world, "not-a-uuid"), 422)
    assert_problem(await _revoke(world, "0193a000-0000-7000-8000-000000000000"), 404)


async def test_a_pet_owner_account_without_a_profile_becomes_staff(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    world.use_mailer()
    email = "casey.joins@example.com"
    await world.add_user(email, Role.PET_OWNER, full_name="Casey Joins")
    tokens = await login_ok(client, email)
    second = await login_ok(client, email)
    invitation = await _invite(world, "Casey.Joins@Example.com", role="VET_STAFF")

    response = await _accept_existing(world, invitation["token"], tokens.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["role"] == "VET_STAFF"
    assert body["practice_id"] == str(world.riverside)
    assert body["email"] == email
    assert body["full_name"] == "Casey Joins"
    # Every session of the account is revoked: its tokens named the old role.
    assert (await me(client, tokens.access)).status_code == 401
    assert (await me(client, second.access)).status_code == 401
    async with app.state.container.engine.connect() as conn:
        live = await conn.scalar(
            select(auth_sessions.c.id).where(
                auth_sessions.c.user_id == UUID(body["id"]), auth_sessions.c.revoked_at.is_(None)
            )
        )
    assert live is None
    # Signing in again: the new role, in Riverside's staff list.
    fresh = await login_ok(client, email)
    profile = (await me(client, fresh.access)).json()
    assert profile["role"] == "VET_STAFF"
    assert profile["practice_id"] == str(world.riverside)
    staff = await client.get(
        f"{API}/practices/{world.riverside}/staff?limit=200", headers=fresh.headers
    )
    assert body["id"] in {item["id"] for item in staff.json()["items"]}
    # The invitation is spent (accepted by this account), and the row says what happened.
    listed = (await _list(world, "?status=accepted")).json()["items"]
    assert [item["accepted_user_id"] for item in listed] == [body["id"]]
    rows = await audit_rows(app, "invitation.accept_existing")
    assert len(rows) == 1
    assert rows[0]["actor_role"] == "PET_OWNER"
    assert rows[0]["practice_id"] == world.riverside
    assert rows[0]["details"]["role"] == "VET_STAFF"
    assert rows[0]["details"]["from_role"] == "PET_OWNER"
    assert rows[0]["details"]["revoked_sessions"] == 2
    # Used: 410 the second time.
    assert_problem(
        await _accept_existing(world, invitation["token"], fresh.headers), 410, "invitation-invalid"
    )


async def test_staff_of_another_practice_move_to_the_inviting_practice(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    world.use_mailer()
    invitation = await _invite(world, HILLCREST_VET, role="PRACTICE_ADMIN")
    headers = await world.h(HILLCREST_VET)
    response = await _accept_existing(world, invitation["token"], headers)
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "PRACTICE_ADMIN"
    assert response.json()["practice_id"] == str(world.riverside)
    fresh = await login_ok(client, HILLCREST_VET)
    # No longer Hillcrest's: its business is closed to them, Riverside's is open.
    hillcrest = await client.get(f"{API}/practices/{world.hillcrest}/staff", headers=fresh.headers)
    assert hillcrest.status_code == 403
    assert (await _list(world, "?status=all", who=HILLCREST_VET)).status_code == 401  # old token
    listed = await client.get(
        f"{API}/practices/{world.riverside}/invitations?status=all", headers=fresh.headers
    )
    assert listed.status_code == 200
    rows = await audit_rows(app, "invitation.accept_existing")
    assert rows[0]["details"]["from_practice_id"] == str(world.hillcrest)


async def test_who_cannot_accept_with_an_existing_account(app: FastAPI, client: AsyncClient):
    world = await start(app, client, demo_clients=True)
    world.use_mailer()
    # Issuing refuses the accounts that could never accept (409 naming why) ...
    for email, code in (
        (RIVERSIDE_TECH, "already-staff"),
        (OWNER, "owner-profile-linked"),
        (ADMIN, "account-not-eligible"),
    ):
        response = await world.client.post(
            f"{API}/practices/{world.riverside}/invitations",
            json={"email": email, "role": "VET"},
            headers=await world.h(RIVERSIDE_MANAGER),
        )
        assert_problem(response, 409, code)
    # ... and accepting checks again (the account may have changed since it was invited).
    email = "later.owner@example.com"
    await world.add_user(email, Role.PET_OWNER, sign_in=True)
    invitation = await _invite(world, email)
    made = await client.post(
        f"{API}/pet-owners", json={"full_name": "Later Owner"}, headers=world.headers[email]
    )
    assert made.status_code == 201
    response = await _accept_existing(world, invitation["token"], world.headers[email])
    assert_problem(response, 409, "owner-profile-linked")
    # Someone else's invitation: 403, nothing changes.
    other = await _invite(world, "someone.else@example.com")
    response = await _accept_existing(world, other["token"], await world.h(RIVERSIDE_TECH))
    assert_problem(response, 403, "invitation-email-mismatch")
    profile = (await client.get(f"{API}/users/me", headers=await world.h(RIVERSIDE_TECH))).json()
    assert profile["role"] == "VET_STAFF"
    # SYSTEM_ADMIN: never staff (403 before the token is looked at).
    response = await _accept_existing(world, other["token"], await world.h(ADMIN))
    assert_problem(response, 403)
    # Both invitations are still pending; no account changed.
    pending = {item["email"] for item in (await _list(world)).json()["items"]}
    assert {email, "someone.else@example.com"} <= pending
    assert await audit_rows(app, "invitation.accept_existing") != []  # the refusals only
    assert all(
        row["outcome"] == "denied" for row in await audit_rows(app, "invitation.accept_existing")
    )
    # Bad bodies: 422, and no token on the unauthenticated path.
    headers = await world.h(RIVERSIDE_TECH)
    for body in ({}, {"token": ""}, {"token": "x", "password": DEMO_PASSWORD}):
        response = await client.post(
            f"{API}/invitations/accept-existing", json=body, headers=headers
        )
        assert_problem(response, 422)
    response = await client.post(f"{API}/invitations/accept-existing", json={"token": "x"})
    assert response.status_code == 401
    # The old path still answers a new user only: the existing account's email is taken.
    taken = await _invite(world, "already.here@example.com")
    await world.add_user("already.here@example.com", Role.PET_OWNER)
    response = await client.post(
        f"{API}/invitations/accept",
        json={"token": taken["token"], "password": STRONG_PASSWORD, "full_name": "Al Ready"},
    )
    assert_problem(response, 409)
    assert (await login(client, "already.here@example.com", DEMO_PASSWORD)).status_code == 200
