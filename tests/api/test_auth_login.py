"""POST /api/v1/auth/token: the OAuth2 password form, no user enumeration, lockout, unlock."""

from __future__ import annotations

import statistics
import time

import jwt
from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import (
    ADMIN,
    API,
    AUDIENCE,
    DEMO_PASSWORD,
    HILLCREST_MANAGER,
    ISSUER,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_VET,
    STRONG_PASSWORD,
    audit_rows,
    cheap_auth,
    login,
    login_ok,
    me,
    running_app,
    same_problem,
    seed_demo,
    signup,
)
from tests.conftest import TEST_JWT_SECRET, make_settings
from vetchart.adapters.security.tokens import key_id

THRESHOLD = 5  # VETCHART_LOCKOUT_THRESHOLD's default


async def test_token_endpoint_takes_the_password_form_and_returns_a_bearer_pair(
    app: FastAPI, client: AsyncClient
):
    users = await seed_demo(app)
    response = await login(client, RIVERSIDE_VET)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert isinstance(body["refresh_token"], str)
    assert len(body["refresh_token"]) >= 32
    assert "mfa_required" not in body

    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "HS256"
    assert header["typ"] == "at+jwt"
    assert header["kid"] == key_id(TEST_JWT_SECRET)
    claims = jwt.decode(
        body["access_token"],
        TEST_JWT_SECRET,
        algorithms=["HS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
    )
    vet = users[RIVERSIDE_VET]
    assert claims["sub"] == str(vet.id)
    assert claims["role"] == "VET"
    assert {"iss", "aud", "sub", "exp", "iat", "nbf", "jti", "sid", "role"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == 15 * 60
    # The refresh token is opaque, not a JWT.
    assert body["refresh_token"].count(".") != 2

    profile = await me(client, body["access_token"])
    assert profile.status_code == 200
    assert profile.json()["email"] == RIVERSIDE_VET

    # The username is an email, compared case-insensitively.
    assert (await login(client, RIVERSIDE_VET.upper())).status_code == 200

    # Only the OAuth2 password form is accepted.
    json_body = await client.post(
        f"{API}/auth/token", json={"username": OWNER, "password": DEMO_PASSWORD}
    )
    assert json_body.status_code == 422
    wrong_grant = await client.post(
        f"{API}/auth/token",
        data={"username": OWNER, "password": DEMO_PASSWORD, "grant_type": "client_credentials"},
    )
    assert wrong_grant.status_code == 422
    missing = await client.post(f"{API}/auth/token", data={"username": OWNER})
    assert missing.status_code == 422
    # grant_type is optional (OAuth2 clients differ); the form without it works.
    plain = await client.post(
        f"{API}/auth/token", data={"username": OWNER, "password": DEMO_PASSWORD}
    )
    assert plain.status_code == 200


async def test_unknown_user_and_wrong_password_look_the_same(app: FastAPI, client: AsyncClient):
    await seed_demo(app)
    wrong = await login(client, RIVERSIDE_VET, "not-the-right-password-at-all")
    unknown = await login(client, "nobody@riverside.vetchart.local", "not-the-right-password")
    garbage = await login(client, "not an email at all", "whatever-password-here")
    for response in (wrong, unknown, garbage):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert "access_token" not in response.text
    same_problem(wrong, unknown)
    same_problem(wrong, garbage)
    assert wrong.json()["request_id"] != unknown.json()["request_id"]


async def test_unknown_user_and_wrong_password_take_similar_time(database_url: str):
    """The dummy hash for unknown accounts: with a hash that dominates the request time,
    skipping it would make unknown users several times faster."""
    settings = make_settings(
        database_url,
        auth=cheap_auth(argon2_time_cost=2, argon2_memory_kib=32768, lockout_threshold=100),
    )
    async with running_app(settings, database_url) as (_app, client):
        assert (await signup(client, "timing.person@example.com")).status_code == 201
        known: list[float] = []
        unknown: list[float] = []
        for attempt in range(5):
            for email, bucket in [
                ("timing.person@example.com", known),
                (f"ghost{attempt}@example.com", unknown),
            ]:
                started = time.perf_counter()
                response = await login(client, email, "wrong-password-attempt")
                bucket.append(time.perf_counter() - started)
                assert response.status_code == 401, response.text
    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    ratio = max(known_median, unknown_median) / min(known_median, unknown_median)
    assert ratio < 3, (known_median, unknown_median)


async def test_lockout_after_the_threshold_refuses_even_the_right_password(
    app: FastAPI, client: AsyncClient
):
    users = await seed_demo(app)
    for attempt in range(THRESHOLD):
        response = await login(client, RIVERSIDE_VET, f"wrong-password-number-{attempt}")
        assert response.status_code == 401, (attempt, response.text)
    locked = await login(client, RIVERSIDE_VET, "wrong-password-once-more")
    assert locked.status_code == 423, locked.text
    retry_after = int(locked.headers["retry-after"])
    assert 1 <= retry_after <= 5 * 60
    assert "access_token" not in locked.text

    # From the address that failed, even the right password is refused.
    right_password = await login(client, RIVERSIDE_VET, DEMO_PASSWORD)
    assert right_password.status_code == 423
    same_problem(locked, right_password)

    # Other accounts are not affected (nor other addresses: tests/api/test_lockout.py).
    await login_ok(client, RIVERSIDE_MANAGER)

    lockouts = await audit_rows(app, "auth.lockout")
    assert [row["resource_id"] for row in lockouts] == [str(users[RIVERSIDE_VET].id)]
    assert lockouts[0]["details"]["scope"] == "pair"


async def test_unknown_accounts_lock_the_same_way(app: FastAPI, client: AsyncClient):
    await seed_demo(app)
    ghost = "ghost@riverside.vetchart.local"
    known_responses = []
    ghost_responses = []
    for attempt in range(THRESHOLD + 1):
        known_responses.append(await login(client, RIVERSIDE_VET, f"bad-password-{attempt}"))
        ghost_responses.append(await login(client, ghost, f"bad-password-{attempt}"))
    assert [r.status_code for r in ghost_responses] == [401] * THRESHOLD + [423]
    for known, unknown in zip(known_responses, ghost_responses, strict=True):
        same_problem(known, unknown)
    assert "retry-after" in ghost_responses[-1].headers
    assert (
        abs(
            int(ghost_responses[-1].headers["retry-after"])
            - int(known_responses[-1].headers["retry-after"])
        )
        <= 2
    )


async def test_admins_unlock_a_locked_account(app: FastAPI, client: AsyncClient):
    users = await seed_demo(app)
    admin = await login_ok(client, ADMIN)
    manager = await login_ok(client, RIVERSIDE_MANAGER)
    other_manager = await login_ok(client, HILLCREST_MANAGER)

    async def lock(email: str) -> None:
        for attempt in range(THRESHOLD):
            await login(client, email, f"bad-password-{attempt}")
        assert (await login(client, email)).status_code == 423

    vet_id = users[RIVERSIDE_VET].id
    await lock(RIVERSIDE_VET)
    # Another practice's admin does not see the user at all.
    response = await client.post(f"{API}/users/{vet_id}/unlock", headers=other_manager.headers)
    assert response.status_code == 404
    assert (await login(client, RIVERSIDE_VET)).status_code == 423
    # The user's own practice admin unlocks.
    response = await client.post(f"{API}/users/{vet_id}/unlock", headers=manager.headers)
    assert response.status_code == 204, response.text
    await login_ok(client, RIVERSIDE_VET)

    await lock(RIVERSIDE_VET)
    response = await client.post(f"{API}/users/{vet_id}/unlock", headers=admin.headers)
    assert response.status_code == 204, response.text
    await login_ok(client, RIVERSIDE_VET)

    # A pet owner (no practice) is unlocked by the SYSTEM_ADMIN.
    await lock(OWNER)
    response = await client.post(f"{API}/users/{users[OWNER].id}/unlock", headers=manager.headers)
    assert response.status_code == 404
    response = await client.post(f"{API}/users/{users[OWNER].id}/unlock", headers=admin.headers)
    assert response.status_code == 204
    await login_ok(client, OWNER)
    rows = await audit_rows(app, "user.unlock")
    assert [row["outcome"] for row in rows].count("success") == 3
    # The two refused attempts (admins of another practice, or of none) are on record.
    denied = [row for row in rows if row["outcome"] == "denied"]
    assert len(denied) == 2
    assert {row["actor_id"] for row in denied} == {
        users[HILLCREST_MANAGER].id,
        users[RIVERSIDE_MANAGER].id,
    }


async def test_deactivated_user_cannot_sign_in_and_is_not_told_so(
    app: FastAPI, client: AsyncClient
):
    users = await seed_demo(app)
    admin = await login_ok(client, ADMIN)
    response = await client.patch(
        f"{API}/users/{users[OWNER].id}", json={"is_active": False}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    refused = await login(client, OWNER, DEMO_PASSWORD)
    wrong = await login(client, RIVERSIDE_VET, STRONG_PASSWORD)
    assert refused.status_code == 401
    same_problem(refused, wrong)
