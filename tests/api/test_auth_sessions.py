"""Refresh rotation and reuse detection, logout, sessions, password change."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import update

from tests.api.auth_helpers import (
    API,
    DEMO_PASSWORD,
    OTHER_STRONG_PASSWORD,
    OWNER,
    RIVERSIDE_VET,
    Tokens,
    audit_rows,
    login,
    login_ok,
    me,
    refresh,
    seed_demo,
    utcnow,
)
from vetchart.adapters.db.tables import auth_sessions


def assert_bearer_401(response, case: str = "") -> None:
    assert response.status_code == 401, (case, response.status_code, response.text)
    assert response.headers["www-authenticate"] == "Bearer", case


async def test_refresh_rotates_and_reuse_revokes_the_whole_session(
    app: FastAPI, client: AsyncClient
):
    await seed_demo(app)
    first = await login_ok(client, RIVERSIDE_VET)
    bystander = await login_ok(client, RIVERSIDE_VET)  # another session of the same user

    response = await refresh(client, first.refresh)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    second = Tokens(body["access_token"], body["refresh_token"])
    assert second.refresh != first.refresh
    assert second.access != first.access
    assert second.session_id == first.session_id  # the same session, rotated
    assert (await me(client, second.access)).status_code == 200

    third_response = await refresh(client, second.refresh)
    assert third_response.status_code == 200
    third = Tokens(third_response.json()["access_token"], third_response.json()["refresh_token"])

    # The spent first token comes back: refused, and the whole session family is revoked.
    assert_bearer_401(await refresh(client, first.refresh), "reused refresh token")
    assert_bearer_401(await refresh(client, third.refresh), "newest refresh token of the family")
    for token in (first.access, second.access, third.access):
        assert_bearer_401(await me(client, token), "access token of the revoked session")
    # Other sessions of the same user are not part of that family.
    assert (await me(client, bystander.access)).status_code == 200
    assert (await refresh(client, bystander.refresh)).status_code == 200

    # Unknown and malformed refresh tokens.
    assert_bearer_401(await refresh(client, "x" * 43), "unknown")
    bad = await client.post(f"{API}/auth/refresh", json={"refresh_token": ""})
    assert bad.status_code == 422
    extra = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": bystander.refresh, "user_id": "x"}
    )
    assert extra.status_code == 422

    reuse = await audit_rows(app, "auth.refresh_reuse")
    assert len(reuse) == 1
    assert reuse[0]["details"]["session_id"] == str(first.session_id)


async def test_concurrent_refreshes_with_one_token_let_at_most_one_win(
    app: FastAPI, client: AsyncClient
):
    await seed_demo(app)
    tokens = await login_ok(client, OWNER)
    responses = await asyncio.gather(*(refresh(client, tokens.refresh) for _ in range(5)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) <= 1, statuses
    assert all(status in (200, 401) for status in statuses), statuses
    winners = [r for r in responses if r.status_code == 200]
    # The losers presented a spent token: the session is revoked, the winner's pair too.
    for winner in winners:
        assert_bearer_401(await refresh(client, winner.json()["refresh_token"]))
        assert_bearer_401(await me(client, winner.json()["access_token"]))
    # Signing in again works.
    await login_ok(client, OWNER)


async def test_logout_ends_the_current_session_at_once(app: FastAPI, client: AsyncClient):
    await seed_demo(app)
    tokens = await login_ok(client, OWNER)
    other = await login_ok(client, OWNER)
    # Served (and cached) before the logout: the cache must not keep it alive.
    assert (await me(client, tokens.access)).status_code == 200
    response = await client.post(f"{API}/auth/logout", headers=tokens.headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_bearer_401(await me(client, tokens.access), "access token after logout")
    assert_bearer_401(await refresh(client, tokens.refresh), "refresh token after logout")
    assert_bearer_401(await client.post(f"{API}/auth/logout", headers=tokens.headers))
    # The user's other session is untouched.
    assert (await me(client, other.access)).status_code == 200
    assert_bearer_401(await client.post(f"{API}/auth/logout"), "no token")


async def test_logout_all_ends_every_session_of_the_user(app: FastAPI, client: AsyncClient):
    await seed_demo(app)
    sessions = [await login_ok(client, RIVERSIDE_VET) for _ in range(3)]
    someone_else = await login_ok(client, OWNER)
    for tokens in sessions:
        assert (await me(client, tokens.access)).status_code == 200
    response = await client.post(f"{API}/auth/logout-all", headers=sessions[1].headers)
    assert response.status_code == 204, response.text
    for tokens in sessions:
        assert_bearer_401(await me(client, tokens.access))
        assert_bearer_401(await refresh(client, tokens.refresh))
    assert (await me(client, someone_else.access)).status_code == 200
    # A new login starts a new session.
    fresh = await login_ok(client, RIVERSIDE_VET)
    assert (await me(client, fresh.access)).status_code == 200


async def test_sessions_are_listed_and_revoked_one_by_one(app: FastAPI, client: AsyncClient):
    await seed_demo(app)
    first = await login_ok(client, RIVERSIDE_VET)
    second = await client.post(
        f"{API}/auth/token",
        data={"username": RIVERSIDE_VET, "password": DEMO_PASSWORD},
        headers={"User-Agent": "VetChart-iOS/2.1", "X-Forwarded-For": "192.0.2.99"},
    )
    assert second.status_code == 200
    second_tokens = Tokens(second.json()["access_token"], second.json()["refresh_token"])
    owner = await login_ok(client, OWNER)

    listing = await client.get(f"{API}/auth/sessions", headers=first.headers)
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    items = body["items"]
    assert {item["id"] for item in items} == {
        str(first.session_id),
        str(second_tokens.session_id),
    }
    by_id = {item["id"]: item for item in items}
    assert by_id[str(first.session_id)]["current"] is True
    assert by_id[str(second_tokens.session_id)]["current"] is False
    newer = by_id[str(second_tokens.session_id)]
    assert newer["user_agent"] == "VetChart-iOS/2.1"
    # The socket peer, not what the client wrote into X-Forwarded-For.
    assert newer["client_address"] == "203.0.113.10"
    for item in items:
        assert {"created_at", "last_used_at", "expires_at"} <= item.keys()
    assert items[0]["id"] == str(second_tokens.session_id)  # newest first

    # Another user's session does not exist for this user; neither does a random id.
    for session_id in (owner.session_id, uuid.uuid4()):
        response = await client.delete(f"{API}/auth/sessions/{session_id}", headers=first.headers)
        assert response.status_code == 404, response.text
    assert (await me(client, owner.access)).status_code == 200
    assert (
        await client.delete(f"{API}/auth/sessions/not-a-uuid", headers=first.headers)
    ).status_code == 422

    response = await client.delete(
        f"{API}/auth/sessions/{second_tokens.session_id}", headers=first.headers
    )
    assert response.status_code == 204, response.text
    assert_bearer_401(await me(client, second_tokens.access), "revoked session")
    assert_bearer_401(await refresh(client, second_tokens.refresh), "revoked session refresh")
    assert (await me(client, first.access)).status_code == 200
    listing = await client.get(f"{API}/auth/sessions", headers=first.headers)
    assert [item["id"] for item in listing.json()["items"]] == [str(first.session_id)]
    # Revoking it again: it is no longer active, but it is still the user's own.
    again = await client.delete(
        f"{API}/auth/sessions/{second_tokens.session_id}", headers=first.headers
    )
    assert again.status_code == 204  # idempotent
    assert_bearer_401(await client.get(f"{API}/auth/sessions"), "no token")


async def test_password_change_needs_the_current_password_and_ends_other_sessions(
    app: FastAPI, client: AsyncClient
):
    await seed_demo(app)
    current = await login_ok(client, OWNER)
    other = await login_ok(client, OWNER)
    url = f"{API}/auth/password"

    wrong = await client.post(
        url,
        json={"current_password": "not-my-password-at-all", "new_password": OTHER_STRONG_PASSWORD},
        headers=current.headers,
    )
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["rule"] == "current_password.incorrect"
    for weak, rule in [
        ("too-short-pw", "password.too_short"),
        ("1qaz2wsx3edc4rfv", "password.blocklisted"),
        ("the-owner-of-three-cats", "password.contains_email"),
        ("vetchart-vetchart-forever", "password.contains_product_name"),
        (DEMO_PASSWORD, "password.unchanged"),
    ]:
        response = await client.post(
            url,
            json={"current_password": DEMO_PASSWORD, "new_password": weak},
            headers=current.headers,
        )
        assert response.status_code == 422, (weak, response.text)
        assert response.json()["rule"] == rule, (weak, response.json())
        assert response.json()["field"] == "new_password"
    # Nothing changed so far: both sessions live, the old password works.
    assert (await me(client, other.access)).status_code == 200
    unknown_field = await client.post(
        url,
        json={
            "current_password": DEMO_PASSWORD,
            "new_password": OTHER_STRONG_PASSWORD,
            "user_id": str(uuid.uuid4()),
        },
        headers=current.headers,
    )
    assert unknown_field.status_code == 422

    changed = await client.post(
        url,
        json={"current_password": DEMO_PASSWORD, "new_password": OTHER_STRONG_PASSWORD},
        headers=current.headers,
    )
    assert changed.status_code == 204, changed.text
    # The current session stays; every other one ends at once.
    assert (await me(client, current.access)).status_code == 200
    assert (await refresh(client, current.refresh)).status_code == 200
    assert_bearer_401(await me(client, other.access), "other session after password change")
    assert_bearer_401(await refresh(client, other.refresh), "other session refresh")
    assert (await login(client, OWNER, DEMO_PASSWORD)).status_code == 401
    await login_ok(client, OWNER, OTHER_STRONG_PASSWORD)
    # Without a token: 401.
    assert_bearer_401(
        await client.post(
            url, json={"current_password": OTHER_STRONG_PASSWORD, "new_password": DEMO_PASSWORD}
        )
    )


async def test_idle_and_absolute_session_limits_end_refresh_and_access(
    app: FastAPI, client: AsyncClient
):
    """Staff sessions end after the idle timeout (at most 1 h), every session after its
    absolute lifetime; the clock is moved by editing the session rows."""
    await seed_demo(app)
    idle = await login_ok(client, RIVERSIDE_VET)
    expired = await login_ok(client, OWNER)
    fresh = await login_ok(client, RIVERSIDE_VET)
    now = utcnow()
    async with app.state.container.engine.begin() as conn:
        await conn.execute(
            update(auth_sessions)
            .where(auth_sessions.c.id == idle.session_id)
            .values(last_used_at=now - timedelta(hours=1, minutes=1))
        )
        await conn.execute(
            update(auth_sessions)
            .where(auth_sessions.c.id == expired.session_id)
            .values(
                created_at=now - timedelta(days=31),
                last_used_at=now - timedelta(minutes=1),
                expires_at=now - timedelta(seconds=1),
            )
        )
    for tokens, case in [(idle, "idle staff session"), (expired, "past its absolute lifetime")]:
        assert_bearer_401(await me(client, tokens.access), case)
        assert_bearer_401(await refresh(client, tokens.refresh), case)
    listing = await client.get(f"{API}/auth/sessions", headers=fresh.headers)
    assert [item["id"] for item in listing.json()["items"]] == [str(fresh.session_id)]
    assert (await refresh(client, fresh.refresh)).status_code == 200
