"""Every auth event leaves an audit row naming the account, and no row holds a password."""

from __future__ import annotations

import json

from fastapi import FastAPI
from httpx import AsyncClient

from tests.api.auth_helpers import (
    API,
    DEMO_PASSWORD,
    OTHER_STRONG_PASSWORD,
    PEER_ADDRESS,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    audit_rows,
    login,
    login_ok,
    refresh,
    seed_demo,
)

WRONG_PASSWORDS = [f"attempted-secret-{n}-Zq" for n in range(6)]


async def test_auth_events_are_audited_without_passwords(app: FastAPI, client: AsyncClient):
    users = await seed_demo(app)
    vet, tech = users[RIVERSIDE_VET], users[RIVERSIDE_TECH]

    response = await client.post(
        f"{API}/auth/token",
        data={"username": RIVERSIDE_VET, "password": DEMO_PASSWORD},
        headers={"X-Request-ID": "login-req-1", "User-Agent": "audit-test/1.0"},
    )
    assert response.status_code == 200
    first = response.json()
    assert (await login(client, RIVERSIDE_VET, WRONG_PASSWORDS[0])).status_code == 401
    assert (await login(client, "nobody@example.com", WRONG_PASSWORDS[1])).status_code == 401
    for password in WRONG_PASSWORDS[:5]:
        await login(client, RIVERSIDE_TECH, password)
    assert (await login(client, RIVERSIDE_TECH, WRONG_PASSWORDS[5])).status_code == 423

    rotated = await refresh(client, first["refresh_token"])
    assert rotated.status_code == 200
    assert (await refresh(client, first["refresh_token"])).status_code == 401  # reuse

    second = await login_ok(client, RIVERSIDE_VET)
    third = await login_ok(client, RIVERSIDE_VET)
    revoke = await client.delete(f"{API}/auth/sessions/{third.session_id}", headers=second.headers)
    assert revoke.status_code == 204
    denied = await client.post(
        f"{API}/auth/password",
        json={"current_password": WRONG_PASSWORDS[2], "new_password": OTHER_STRONG_PASSWORD},
        headers=second.headers,
    )
    assert denied.status_code == 422
    changed = await client.post(
        f"{API}/auth/password",
        json={"current_password": DEMO_PASSWORD, "new_password": OTHER_STRONG_PASSWORD},
        headers=second.headers,
    )
    assert changed.status_code == 204
    assert (await client.post(f"{API}/auth/logout", headers=second.headers)).status_code == 204

    rows = await audit_rows(app)
    by_action: dict[str, list[dict]] = {}
    for row in rows:
        by_action.setdefault(row["action"], []).append(row)

    logins = by_action["auth.login"]
    assert len(logins) == 3
    login_row = logins[0]
    assert login_row["outcome"] == "success"
    assert login_row["resource_id"] == str(vet.id)
    assert login_row["actor_id"] == vet.id
    assert login_row["practice_id"] == vet.practice_id  # for logins: the user's practice
    assert login_row["request_id"] == "login-req-1"
    assert login_row["client_address"] == PEER_ADDRESS
    assert login_row["user_agent"] == "audit-test/1.0"

    failed = by_action["auth.login_failed"]
    assert all(row["outcome"] == "denied" for row in failed)
    resource_ids = [row["resource_id"] for row in failed]
    assert resource_ids.count(str(vet.id)) == 1
    assert resource_ids.count(None) == 1  # the unknown account is named by nothing
    assert resource_ids.count(str(tech.id)) == 6  # five failures and the locked attempt
    vet_failure = next(row for row in failed if row["resource_id"] == str(vet.id))
    assert vet_failure["practice_id"] == vet.practice_id

    lockouts = by_action["auth.lockout"]
    assert [(row["resource_id"], row["outcome"]) for row in lockouts] == [(str(tech.id), "denied")]

    assert len(by_action["auth.refresh"]) == 1
    assert by_action["auth.refresh"][0]["resource_id"] == str(vet.id)
    reuse = by_action["auth.refresh_reuse"]
    assert [(row["resource_id"], row["outcome"]) for row in reuse] == [(str(vet.id), "denied")]

    revokes = by_action["auth.session_revoke"]
    assert [row["resource_id"] for row in revokes] == [str(third.session_id)]
    assert revokes[0]["actor_id"] == vet.id

    changes = by_action["auth.password_change"]
    assert [row["outcome"] for row in changes] == ["denied", "success"]
    assert all(row["resource_id"] == str(vet.id) for row in changes)

    logouts = by_action["auth.logout"]
    assert [row["resource_id"] for row in logouts] == [str(second.session_id)]

    # No row anywhere holds a password, attempted or real.
    dumped = json.dumps(rows, default=str)
    for password in [DEMO_PASSWORD, OTHER_STRONG_PASSWORD, *WRONG_PASSWORDS]:
        assert password not in dumped, password
    # Nor a token.
    assert first["refresh_token"] not in dumped
    assert first["access_token"] not in dumped
