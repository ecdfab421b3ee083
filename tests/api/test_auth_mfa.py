"""TOTP MFA: enrolment, two-step login, replay, recovery codes, throttling, roles that must
enrol."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import (
    API,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_VET,
    Tokens,
    TotpDevice,
    audit_rows,
    bearer,
    cheap_auth,
    login,
    login_ok,
    me,
    running_app,
    seed_demo,
)
from tests.conftest import make_settings

THRESHOLD = 5


async def enrol(client: AsyncClient, tokens: Tokens) -> tuple[TotpDevice, list[str]]:
    """Turn MFA on for the signed-in user: (their authenticator, their recovery codes)."""
    started = await client.post(f"{API}/auth/mfa/totp", headers=tokens.headers)
    assert started.status_code == 201, started.text
    device = TotpDevice(started.json()["secret"])
    confirmed = await client.post(
        f"{API}/auth/mfa/totp/confirm", json={"code": device.code()}, headers=tokens.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    return device, confirmed.json()["recovery_codes"]


async def mfa_step(client: AsyncClient, email: str) -> str:
    response = await login(client, email)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mfa_required"] is True, body
    return str(body["mfa_token"])


async def verify(client: AsyncClient, mfa_token: str, code: str):
    return await client.post(f"{API}/auth/mfa/verify", json={"mfa_token": mfa_token, "code": code})


async def test_enrolment_and_two_step_login(app: FastAPI, client: AsyncClient):
    await seed_demo(app)
    tokens = await login_ok(client, RIVERSIDE_VET)

    started = await client.post(f"{API}/auth/mfa/totp", headers=tokens.headers)
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    uri = urlparse(started.json()["otpauth_uri"])
    assert uri.scheme == "otpauth"
    assert uri.netloc == "totp"
    assert RIVERSIDE_VET in uri.path.replace("%40", "@")
    query = parse_qs(uri.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["vetchart"]
    device = TotpDevice(secret)

    # Not on until confirmed: a wrong code is refused and login stays one step.
    wrong = await client.post(
        f"{API}/auth/mfa/totp/confirm", json={"code": device.wrong_code()}, headers=tokens.headers
    )
    assert wrong.status_code == 422, wrong.text
    assert wrong.json()["rule"] == "mfa.code_invalid"
    assert "access_token" in (await login(client, RIVERSIDE_VET)).json()

    confirmed = await client.post(
        f"{API}/auth/mfa/totp/confirm", json={"code": device.code()}, headers=tokens.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) >= 8
    assert len(set(codes)) == len(codes)
    assert (await me(client, tokens.access)).json()["mfa_enabled"] is True
    again = await client.post(f"{API}/auth/mfa/totp", headers=tokens.headers)
    assert again.status_code == 409

    # Step one: no access token, an MFA token.
    first_step = await login(client, RIVERSIDE_VET)
    assert first_step.status_code == 200
    body = first_step.json()
    assert body["mfa_required"] is True
    assert body["expires_in"] > 0
    assert "access_token" not in body
    assert "refresh_token" not in body
    mfa_token = body["mfa_token"]
    # The MFA token is not an access token.
    assert (await me(client, mfa_token)).status_code == 401

    # Step two: a current TOTP code gives the pair.
    code = device.code()
    pair = await verify(client, mfa_token, code)
    assert pair.status_code == 200, pair.text
    assert pair.json()["token_type"] == "bearer"
    assert (await me(client, pair.json()["access_token"])).status_code == 200
    assert (
        await client.post(
            f"{API}/auth/refresh", json={"refresh_token": pair.json()["refresh_token"]}
        )
    ).status_code == 200

    # The same code cannot be used twice, not even with a fresh MFA token.
    replay = await verify(client, mfa_token, code)
    assert replay.status_code == 401, replay.text
    replay = await verify(client, await mfa_step(client, RIVERSIDE_VET), code)
    assert replay.status_code == 401, replay.text

    # A recovery code works once.
    recovered = await verify(client, await mfa_step(client, RIVERSIDE_VET), codes[0])
    assert recovered.status_code == 200, recovered.text
    reused = await verify(client, await mfa_step(client, RIVERSIDE_VET), codes[0])
    assert reused.status_code == 401
    # Recovery codes are accepted the way people type them (case, spaces).
    typed = f"  {codes[1].upper()} "
    assert (await verify(client, await mfa_step(client, RIVERSIDE_VET), typed)).status_code == 200

    # The MFA token must be genuine.
    assert (await verify(client, mfa_token + "x", codes[2])).status_code == 401
    assert (await verify(client, tokens.access, codes[2])).status_code == 401

    logins = await audit_rows(app, "auth.login")
    assert [row["details"].get("mfa") for row in logins[-2:]] == ["recovery_code"] * 2


async def test_wrong_codes_are_throttled_into_a_lockout(app: FastAPI, client: AsyncClient):
    users = await seed_demo(app)
    device, codes = await enrol(client, await login_ok(client, OWNER))
    mfa_token = await mfa_step(client, OWNER)
    for attempt in range(THRESHOLD):
        response = await verify(client, mfa_token, device.wrong_code())
        assert response.status_code == 401, (attempt, response.text)
    locked = await verify(client, mfa_token, device.wrong_code())
    assert locked.status_code == 423, locked.text
    assert int(locked.headers["retry-after"]) >= 1
    # While locked, even a right code or a recovery code is refused.
    right_code = device.code()
    assert (await verify(client, mfa_token, right_code)).status_code == 423
    assert (await verify(client, mfa_token, codes[0])).status_code == 423
    lockouts = await audit_rows(app, "auth.lockout")
    assert [row["resource_id"] for row in lockouts] == [str(users[OWNER].id)]

    # An admin unlocks; then a right code works.
    admin = await login_ok(client, "admin@vetchart.local")
    response = await client.post(f"{API}/users/{users[OWNER].id}/unlock", headers=admin.headers)
    assert response.status_code == 204
    assert (await verify(client, mfa_token, right_code)).status_code == 200


async def test_mfa_is_turned_off_with_a_code(app: FastAPI, client: AsyncClient):
    await seed_demo(app)
    tokens = await login_ok(client, OWNER)
    device, _codes = await enrol(client, tokens)
    url = f"{API}/auth/mfa/totp"

    refused = await client.request(
        "DELETE", url, json={"code": device.wrong_code()}, headers=tokens.headers
    )
    assert refused.status_code == 422, refused.text
    assert (await login(client, OWNER)).json().get("mfa_required") is True
    missing = await client.request("DELETE", url, json={}, headers=tokens.headers)
    assert missing.status_code == 422
    code = device.code()
    anonymous = await client.request("DELETE", url, json={"code": code})
    assert anonymous.status_code == 401

    response = await client.request("DELETE", url, json={"code": code}, headers=tokens.headers)
    assert response.status_code == 204, response.text
    assert (await me(client, tokens.access)).json()["mfa_enabled"] is False
    body = (await login(client, OWNER)).json()
    assert "access_token" in body
    assert "mfa_required" not in body
    # Off already: 409.
    again = await client.request("DELETE", url, json={"code": "123456"}, headers=tokens.headers)
    assert again.status_code == 409


async def test_roles_that_must_enrol_reach_only_enrolment_until_they_do(database_url: str):
    settings = make_settings(database_url, auth=cheap_auth(mfa_required_roles=["PRACTICE_ADMIN"]))
    async with running_app(settings, database_url) as (app, client):
        await seed_demo(app)
        manager = await login_ok(client, RIVERSIDE_MANAGER)
        blocked = await client.get(f"{API}/users", headers=manager.headers)
        assert blocked.status_code == 403, blocked.text
        assert "mfa-enrolment-required" in blocked.json()["type"]
        sessions = await client.get(f"{API}/auth/sessions", headers=manager.headers)
        assert sessions.status_code == 403
        # Roles not listed are not affected.
        vet = await login_ok(client, RIVERSIDE_VET)
        assert (await client.get(f"{API}/auth/sessions", headers=vet.headers)).status_code == 200

        # Enrolment (and their own profile) stays reachable.
        assert (await me(client, manager.access)).status_code == 200
        device, _codes = await enrol(client, manager)
        # Enrolled: the same session may now do its work.
        listing = await client.get(f"{API}/users", headers=manager.headers)
        assert listing.status_code == 200, listing.text
        # And the next login is two-step.
        mfa_token = await mfa_step(client, RIVERSIDE_MANAGER)
        pair = await verify(client, mfa_token, device.code())
        assert pair.status_code == 200
        users = await client.get(f"{API}/users", headers=bearer(pair.json()["access_token"]))
        assert users.status_code == 200


async def test_wrong_codes_to_turn_mfa_off_are_throttled(app: FastAPI, client: AsyncClient):
    """A stolen access token must not be enough to guess a code and turn MFA off."""
    users = await seed_demo(app)
    tokens = await login_ok(client, OWNER)
    device, codes = await enrol(client, tokens)
    url = f"{API}/auth/mfa/totp"
    statuses = []
    for _ in range(THRESHOLD + 1):
        response = await client.request(
            "DELETE", url, json={"code": device.wrong_code()}, headers=tokens.headers
        )
        statuses.append(response.status_code)
    assert statuses[:THRESHOLD] == [422] * THRESHOLD, statuses
    assert statuses[THRESHOLD] == 423, statuses
    locked = await client.request("DELETE", url, json={"code": codes[0]}, headers=tokens.headers)
    assert locked.status_code == 423, locked.text
    assert int(locked.headers["retry-after"]) >= 1
    assert (await me(client, tokens.access)).json()["mfa_enabled"] is True
    # The same counter guards the sign-in step: no fresh guesses there either.
    mfa_token = await mfa_step(client, OWNER)
    assert (await verify(client, mfa_token, codes[0])).status_code == 423

    admin = await login_ok(client, "admin@vetchart.local")
    response = await client.post(f"{API}/users/{users[OWNER].id}/unlock", headers=admin.headers)
    assert response.status_code == 204
    response = await client.request("DELETE", url, json={"code": codes[0]}, headers=tokens.headers)
    assert response.status_code == 204, response.text
