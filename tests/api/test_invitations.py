"""Staff invitations: POST /practices/{id}/invitations and POST /invitations/accept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import func, select, update
from structlog.testing import capture_logs

from tests.api.auth_helpers import (
    ADMIN,
    HILLCREST_MANAGER,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    STRONG_PASSWORD,
    login,
    login_ok,
    me,
    new_client,
)
from tests.api.clients_helpers import assert_problem, error_fields, table_rows
from tests.fixtures.world import World, start
from vetchart.adapters.db.tables import staff_invitations, users

API = "/api/v1"
INVITEE = "new.colleague@example.com"


async def _invite(world: World, inviter: str, email: str = INVITEE, role: str = "VET") -> Response:
    return await world.client.post(
        f"{API}/practices/{world.riverside}/invitations",
        json={"email": email, "role": role},
        headers=await world.h(inviter),
    )


async def _accept(
    client: AsyncClient, token: str, password: str = STRONG_PASSWORD, full_name: str = "Ada Newman"
) -> Response:
    return await client.post(
        f"{API}/invitations/accept",
        json={"token": token, "password": password, "full_name": full_name},
    )


async def _user_count(app: FastAPI) -> int:
    async with app.state.container.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(users)) or 0)


async def test_an_invited_colleague_joins_the_practice_and_signs_in(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    mailer = world.use_mailer()
    before = datetime.now(UTC)
    response = await _invite(world, RIVERSIDE_MANAGER, "  New.Colleague@Example.COM ", "VET")
    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    body = response.json()
    assert {"id", "email", "role", "expires_at", "token"} <= set(body)
    assert body["email"] == INVITEE
    assert body["role"] == "VET"
    assert body["mail_sent"] is True
    token = body["token"]
    assert len(token) >= 32
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(days=7) - timedelta(seconds=5) <= expires_at
    assert expires_at <= after + timedelta(days=7) + timedelta(seconds=5)

    # The mail goes out from the outbox, after the commit (the worker's job).
    assert mailer.sent == []
    assert await world.deliver_events() == 1
    # The mail port got the token, addressed to the invitee, and knows it is a secret.
    assert len(mailer.sent) == 1
    message = mailer.sent[0]
    assert message.to == INVITEE
    assert token in message.text
    assert token in message.secrets
    assert "Riverside" in message.subject

    # Stored hashed: no column of the row holds the token.
    rows = await table_rows(app, staff_invitations)
    assert len(rows) == 1
    row = rows[0]
    assert str(row["id"]) == body["id"]
    assert row["practice_id"] == world.riverside
    assert row["invited_by"] == world.users[RIVERSIDE_MANAGER].id
    assert row["accepted_at"] is None
    for value in row.values():
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        assert token not in text
    assert token.encode() != row["token_hash"]

    accepted = await _accept(client, token, full_name="  Ada   Newman ")
    assert accepted.status_code == 201, accepted.text
    user = accepted.json()
    assert user["email"] == INVITEE
    assert user["role"] == "VET"
    assert user["practice_id"] == str(world.riverside)
    assert user["full_name"] == "Ada Newman"
    assert user["is_active"] is True
    assert not {"password", "password_hash"} & set(user)

    tokens = await login_ok(client, INVITEE, STRONG_PASSWORD)
    profile = await me(client, tokens.access)
    assert profile.json()["id"] == user["id"]
    staff = await client.get(f"{API}/practices/{world.riverside}/staff", headers=tokens.headers)
    assert staff.status_code == 200
    assert user["id"] in {s["id"] for s in staff.json()["items"]}
    row = (await table_rows(app, staff_invitations))[0]
    assert row["accepted_at"] is not None
    assert row["accepted_user_id"] == UUID(user["id"])

    # Single use: the same token again is gone, and so is an unknown one.
    count = await _user_count(app)
    for reused in (token, token[:-2] + "xx", "not-a-token-at-all"):
        assert_problem(await _accept(client, reused, full_name="Someone Else"), 410)
    assert await _user_count(app) == count

    # A SYSTEM_ADMIN invites too, with any staff role.
    response = await world.client.post(
        f"{API}/practices/{world.hillcrest}/invitations",
        json={"email": "second.person@example.com", "role": "PRACTICE_ADMIN"},
        headers=await world.h(ADMIN),
    )
    assert response.status_code == 201, response.text
    accepted = await _accept(client, response.json()["token"], full_name="Second Person")
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["role"] == "PRACTICE_ADMIN"
    assert accepted.json()["practice_id"] == str(world.hillcrest)
    await world.deliver_events()
    assert len(mailer.sent) == 2


async def test_invitations_are_refused_for_wrong_roles_inviters_and_taken_emails(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    mailer = world.use_mailer()
    for role in ("PET_OWNER", "SYSTEM_ADMIN"):
        body = assert_problem(await _invite(world, RIVERSIDE_MANAGER, role=role), 422)
        assert body["rule"] == "invitation.staff_role", body
    for role in ("DOCTOR", "vet", ""):
        response = await _invite(world, RIVERSIDE_MANAGER, role=role)
        assert_problem(response, 422)
        assert "role" in error_fields(response)
    for email in ("not-an-email", "two words@example.com", "a@b"):
        response = await _invite(world, RIVERSIDE_MANAGER, email=email)
        assert_problem(response, 422)
    response = await client.post(
        f"{API}/practices/{world.riverside}/invitations",
        json={"email": INVITEE, "role": "VET", "practice_id": str(world.hillcrest)},
        headers=await world.h(RIVERSIDE_MANAGER),
    )
    assert "practice_id" in error_fields(response)
    # Only the practice's admin (or a SYSTEM_ADMIN) invites.
    for email in (RIVERSIDE_VET, RIVERSIDE_TECH, HILLCREST_MANAGER, OWNER):
        assert_problem(await _invite(world, email), 403)
    # An email whose account could never accept (whatever its case): 409 naming why.
    # Other existing accounts may be invited (tests/api/test_invitation_management.py).
    for taken, code in (
        (RIVERSIDE_TECH.upper(), "already-staff"),
        ("Admin@VetChart.local", "account-not-eligible"),
    ):
        assert_problem(await _invite(world, RIVERSIDE_MANAGER, email=taken), 409, code)
    assert await table_rows(app, staff_invitations) == []
    assert mailer.sent == []


async def test_an_expired_invitation_is_gone(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    world.use_mailer()
    response = await _invite(world, RIVERSIDE_MANAGER, role="VET_STAFF")
    assert response.status_code == 201
    now = datetime.now(UTC)
    async with app.state.container.engine.begin() as conn:
        await conn.execute(
            update(staff_invitations).values(
                created_at=now - timedelta(days=8), expires_at=now - timedelta(seconds=1)
            )
        )
    count = await _user_count(app)
    token = response.json()["token"]
    response = await _accept(client, token)
    assert_problem(response, 410, "invitation-invalid")
    assert token not in response.text
    assert await _user_count(app) == count
    assert (await table_rows(app, staff_invitations))[0]["accepted_at"] is None
    assert (await login(client, INVITEE, STRONG_PASSWORD)).status_code == 401


async def test_a_weak_password_is_refused_and_the_token_stays_usable(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    world.use_mailer()
    token = (await _invite(world, RIVERSIDE_MANAGER)).json()["token"]
    count = await _user_count(app)
    cases = {
        "too-short-pw": "password.too_short",
        "new.colleague-is-joining-today": "password.contains_email",
        "aaaaaaaaaaaaaaaaaaaaaa": "password.patterned",
    }
    for password, rule in cases.items():
        body = assert_problem(await _accept(client, token, password), 422)
        assert body["rule"] == rule, body
        assert body["field"] == "password"
    response = await _accept(client, token, full_name="   ")
    assert_problem(response, 422)
    response = await client.post(
        f"{API}/invitations/accept",
        json={"token": token, "password": STRONG_PASSWORD, "full_name": "X", "role": "VET"},
    )
    assert "role" in error_fields(response)
    assert await _user_count(app) == count
    assert (await table_rows(app, staff_invitations))[0]["accepted_at"] is None

    accepted = await _accept(client, token)
    assert accepted.status_code == 201, accepted.text
    assert await _user_count(app) == count + 1


async def test_concurrent_accepts_of_one_token_create_one_user(app: FastAPI, client: AsyncClient):
    world = await start(app, client)
    world.use_mailer()
    token = (await _invite(world, RIVERSIDE_MANAGER)).json()["token"]
    count = await _user_count(app)
    clients = [new_client(app, f"198.51.100.{n + 1}") for n in range(5)]
    try:
        responses = await asyncio.gather(
            *(_accept(other, token, full_name=f"Racer {n}") for n, other in enumerate(clients))
        )
    finally:
        for other in clients:
            await other.aclose()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 410, 410, 410, 410], [r.text for r in responses]
    assert await _user_count(app) == count + 1
    winner = next(r.json() for r in responses if r.status_code == 201)
    row = (await table_rows(app, staff_invitations))[0]
    assert row["accepted_user_id"] == UUID(winner["id"])


async def test_an_invitation_to_a_deactivated_practice_cannot_be_accepted(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    world.use_mailer()
    token = (await _invite(world, RIVERSIDE_MANAGER)).json()["token"]
    response = await client.post(
        f"{API}/practices/{world.riverside}/deactivate", headers=await world.h(ADMIN)
    )
    assert response.status_code == 200
    count = await _user_count(app)
    assert_problem(await _accept(client, token), 410)
    assert await _user_count(app) == count
    # New invitations to it are refused: for its admin it no longer exists; the
    # SYSTEM_ADMIN is told why.
    assert_problem(await _invite(world, RIVERSIDE_MANAGER, "later@example.com"), 404)
    response = await client.post(
        f"{API}/practices/{world.riverside}/invitations",
        json={"email": "later@example.com", "role": "VET"},
        headers=await world.h(ADMIN),
    )
    assert_problem(response, 409, "practice-inactive")
    assert len(await table_rows(app, staff_invitations)) == 1


async def test_two_pending_invitations_for_one_email_make_one_account(
    app: FastAPI, client: AsyncClient
):
    world = await start(app, client)
    world.use_mailer()
    first = (await _invite(world, RIVERSIDE_MANAGER)).json()["token"]
    second = (await _invite(world, RIVERSIDE_MANAGER, role="VET_STAFF")).json()["token"]
    assert first != second
    assert (await _accept(client, first)).status_code == 201
    count = await _user_count(app)
    response = await _accept(client, second)
    assert response.status_code in (409, 410), response.text
    assert await _user_count(app) == count


class _BrokenMailer:
    async def send(self, message: object) -> None:
        raise ConnectionRefusedError(111, "Connection refused")


async def test_a_mail_outage_does_not_lose_the_invitation(app: FastAPI, client: AsyncClient):
    """The invitation and its mail are committed together (the outbox); a mail outage
    fails the delivery, which is retried, and never the invitation."""
    world = await start(app, client)
    app.state.container.invitation_mail.mailer = _BrokenMailer()
    with capture_logs() as logs:
        response = await _invite(world, RIVERSIDE_MANAGER)
        assert response.status_code == 201, response.text
        with pytest.raises(ConnectionRefusedError):
            await world.deliver_events()
    token = response.json()["token"]
    assert token not in repr(logs)
    mailer = world.use_mailer()
    assert await world.deliver_events() == 1
    assert len(mailer.sent) == 1
    assert token in mailer.sent[0].text
    assert await world.deliver_events() == 0
    assert (await _accept(client, token)).status_code == 201
