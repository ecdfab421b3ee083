"""Sign-in lockouts that cannot be turned against the account's owner (issue 13, item 5).

Each test replays an attack from client addresses of its own (ASGI clients with another
socket peer) against the real app and PostgreSQL: failures lock the (account, address)
pair that made them; only a ceiling over all addresses locks the account, briefly, and not
for addresses it recently signed in from; wrong current passwords count as failed sign-ins;
an admin's unlock clears every key. Time is moved with an injected clock, never slept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from tests.api.auth_helpers import (
    ADMIN,
    API,
    DEMO_PASSWORD,
    OTHER_STRONG_PASSWORD,
    OWNER,
    PEER_ADDRESS,
    RIVERSIDE_MANAGER,
    RIVERSIDE_VET,
    audit_rows,
    cheap_auth,
    login,
    login_ok,
    new_client,
    running_app,
    same_problem,
    seed_demo,
)
from tests.api.test_auth_mfa import enrol, mfa_step, verify
from tests.conftest import make_settings
from vetchart.adapters.db.tables import login_throttles

THRESHOLD = 5  # VETCHART_LOCKOUT_THRESHOLD's default: failures per (account, address)
FIRST_LOCK_SECONDS = 300  # VETCHART_LOCKOUT_BASE_SECONDS' default
CEILING_LOCK_SECONDS = 900  # VETCHART_LOCKOUT_ACCOUNT_LOCK_SECONDS' default
STRANGER = "198.51.100.66"


class ShiftedClock:
    """The real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def shift_auth_clock(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> ShiftedClock:
    clock = ShiftedClock()
    monkeypatch.setattr(app.state.container.auth, "_clock", clock)
    return clock


async def throttle_keys(app: FastAPI) -> set[str]:
    async with app.state.container.engine.connect() as conn:
        return set((await conn.scalars(select(login_throttles.c.key))).all())


def scopes(rows: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(row["resource_id"], row["details"]["scope"]) for row in rows]


async def test_a_stranger_locks_out_only_their_own_address(app: FastAPI, client: AsyncClient):
    """10 wrong passwords for the SYSTEM_ADMIN from one address lock that address only."""
    users = await seed_demo(app)
    admin_id = str(users[ADMIN].id)
    async with new_client(app, STRANGER) as stranger:
        statuses = [
            (await login(stranger, ADMIN, f"guess-number-{n}-of-ten")).status_code
            for n in range(10)
        ]
        assert statuses == [401] * THRESHOLD + [423] * THRESHOLD
        refused = await login(stranger, ADMIN)  # even the right password, from there
        assert refused.status_code == 423
        assert 1 <= int(refused.headers["retry-after"]) <= FIRST_LOCK_SECONDS

    # The admin, at the clinic, signs in as usual.
    await login_ok(client, ADMIN)

    lockouts = await audit_rows(app, "auth.lockout")
    assert scopes(lockouts) == [(admin_id, "pair")]
    assert lockouts[0]["details"]["network"] == STRANGER
    assert lockouts[0]["client_address"] == STRANGER
    refused_rows = [
        row
        for row in await audit_rows(app, "auth.login_failed")
        if row["details"].get("reason") == "locked"
    ]
    assert len(refused_rows) == THRESHOLD + 1
    assert {row["details"]["scope"] for row in refused_rows} == {"pair"}
    dumped = json.dumps(await audit_rows(app), default=str)
    assert "guess-number-" not in dumped
    assert DEMO_PASSWORD not in dumped


async def test_ipv6_addresses_in_one_64_share_their_lock(app: FastAPI):
    users = await seed_demo(app)
    async with new_client(app, "2001:db8:aa:1::1") as first:
        for n in range(THRESHOLD):
            assert (await login(first, OWNER, f"wrong-password-{n}")).status_code == 401
    # Rotating within the /64 does not make a new pair...
    async with new_client(app, "2001:db8:aa:1:ffff:1:2:3") as rotated:
        locked = await login(rotated, OWNER)
        assert locked.status_code == 423, locked.text
    # ...the next /64 is somebody else.
    async with new_client(app, "2001:db8:aa:2::1") as neighbour:
        await login_ok(neighbour, OWNER)
    lockouts = await audit_rows(app, "auth.lockout")
    assert scopes(lockouts) == [(str(users[OWNER].id), "pair")]
    assert lockouts[0]["details"]["network"] == "2001:db8:aa:1::/64"


async def test_failures_decay_so_an_address_tries_again_without_a_lock(
    database_url: str, monkeypatch: pytest.MonkeyPatch
):
    settings = make_settings(database_url, auth=cheap_auth(lockout_decay_seconds=60))
    async with running_app(settings, database_url) as (app, client):
        await seed_demo(app)
        clock = shift_auth_clock(app, monkeypatch)
        for n in range(THRESHOLD - 1):
            assert (await login(client, RIVERSIDE_VET, f"typo-{n}-here")).status_code == 401
        # Two minutes later two of the four are forgiven: two more tries, and no lock
        # was ever taken (less than the first lock's five minutes have passed).
        clock.offset += timedelta(seconds=120)
        for n in range(2):
            response = await login(client, RIVERSIDE_VET, f"later-typo-{n}")
            assert response.status_code == 401, (n, response.text)
        assert await audit_rows(app, "auth.lockout") == []
        # A leak, not a reset: the bucket is at four again, so the next failure locks.
        assert (await login(client, RIVERSIDE_VET, "one-typo-too-many")).status_code == 401
        locked = await login(client, RIVERSIDE_VET)
        assert locked.status_code == 423
        assert int(locked.headers["retry-after"]) == FIRST_LOCK_SECONDS
        clock.offset += timedelta(seconds=FIRST_LOCK_SECONDS)
        await login_ok(client, RIVERSIDE_VET)


async def test_the_account_ceiling_trips_on_failures_from_many_addresses(database_url: str):
    """30 failures spread over ten addresses (three each: no address locks) trip a ceiling
    of 30: the account is locked for new addresses, known account or not, but not for the
    address it recently signed in from."""
    settings = make_settings(database_url, auth=cheap_auth(lockout_account_threshold=30))
    async with running_app(settings, database_url) as (app, clinic):
        users = await seed_demo(app)
        vet_id = str(users[RIVERSIDE_VET].id)
        ghost = "ghost@riverside.vetchart.local"
        await login_ok(clinic, RIVERSIDE_VET)  # the clinic's address: a recent sign-in
        botnet = [f"192.0.2.{n}" for n in range(1, 11)]
        for address in botnet:
            async with new_client(app, address) as bot:
                for n in range(3):
                    for email in (RIVERSIDE_VET, ghost):
                        response = await login(bot, email, f"spray-{n}-from-{address}")
                        assert response.status_code == 401, (address, n, response.text)

        async with new_client(app, "198.51.100.200") as newcomer:
            locked = await login(newcomer, RIVERSIDE_VET)  # the right password
            ghost_locked = await login(newcomer, ghost, "anything-at-all-here")
        assert locked.status_code == 423, locked.text
        retry_after = int(locked.headers["retry-after"])
        assert FIRST_LOCK_SECONDS < retry_after <= CEILING_LOCK_SECONDS
        # An unknown account's ceiling looks the same as a known one's.
        same_problem(locked, ghost_locked)
        assert abs(int(ghost_locked.headers["retry-after"]) - retry_after) <= 2
        async with new_client(app, botnet[0]) as bot:
            assert (await login(bot, RIVERSIDE_VET)).status_code == 423

        # The clinic, where the vet signed in before, still signs in.
        await login_ok(clinic, RIVERSIDE_VET)

        lockouts = await audit_rows(app, "auth.lockout")
        assert sorted(scopes(lockouts), key=str) == sorted(
            [(vet_id, "account"), (None, "account")], key=str
        )
        assert {row["details"]["ceiling"] for row in lockouts} == {30}
        assert {row["details"]["lock_seconds"] for row in lockouts} == {CEILING_LOCK_SECONDS}
        refused = [
            row
            for row in await audit_rows(app, "auth.login_failed")
            if row["details"].get("reason") == "locked"
        ]
        assert {row["details"]["scope"] for row in refused} == {"account"}


async def test_wrong_current_passwords_count_as_failed_sign_ins(app: FastAPI, client: AsyncClient):
    """A stolen access token used from another address: guessing the current password on
    /auth/password locks that address like failed sign-ins do, and changes nothing."""
    users = await seed_demo(app)
    vet_id = str(users[RIVERSIDE_VET].id)
    tokens = await login_ok(client, RIVERSIDE_VET)
    url = f"{API}/auth/password"
    async with new_client(app, STRANGER) as thief:
        for n in range(THRESHOLD):
            response = await thief.post(
                url,
                json={
                    "current_password": f"maybe-this-one-{n}",
                    "new_password": OTHER_STRONG_PASSWORD,
                },
                headers=tokens.headers,
            )
            assert response.status_code == 422, (n, response.text)
        locked = await thief.post(
            url,
            json={"current_password": DEMO_PASSWORD, "new_password": OTHER_STRONG_PASSWORD},
            headers=tokens.headers,
        )
        assert locked.status_code == 423, locked.text
        assert 1 <= int(locked.headers["retry-after"]) <= FIRST_LOCK_SECONDS
        # The same pair key as a sign-in from there.
        assert (await login(thief, RIVERSIDE_VET)).status_code == 423

    # Nothing changed, and the vet is not locked out at the clinic.
    await login_ok(client, RIVERSIDE_VET, DEMO_PASSWORD)
    async with app.state.container.uow() as uow:
        account = await uow.throttles.peek(f"login-account:{RIVERSIDE_VET}")
    assert account is not None
    assert account.failure_count == THRESHOLD  # counted towards the ceiling too

    changes = await audit_rows(app, "auth.password_change")
    assert [(row["outcome"], row["details"]["reason"]) for row in changes] == [
        ("denied", "current_incorrect")
    ] * THRESHOLD + [("denied", "locked")]
    lockouts = await audit_rows(app, "auth.lockout")
    assert scopes(lockouts) == [(vet_id, "pair")]
    assert lockouts[0]["details"]["reason"] == "current_incorrect"
    assert lockouts[0]["details"]["network"] == STRANGER
    dumped = json.dumps(await audit_rows(app), default=str)
    assert "maybe-this-one-" not in dumped
    assert DEMO_PASSWORD not in dumped
    assert OTHER_STRONG_PASSWORD not in dumped


async def test_wrong_mfa_codes_lock_the_address_and_a_ceiling_spares_the_known_one(
    app: FastAPI, client: AsyncClient
):
    """Someone with the owner's password but not the phone: wrong codes lock their
    address; ten of them from two addresses trip the MFA ceiling, which holds new
    addresses but not the one the owner signs in from."""
    users = await seed_demo(app)
    owner_id = str(users[OWNER].id)
    device, codes = await enrol(client, await login_ok(client, OWNER))
    for address in (STRANGER, "198.51.100.67"):
        async with new_client(app, address) as thief:
            mfa_token = await mfa_step(thief, OWNER)
            for _ in range(THRESHOLD):
                response = await verify(thief, mfa_token, device.wrong_code())
                assert response.status_code == 401, response.text
            assert (await verify(thief, mfa_token, codes[0])).status_code == 423
        if address == STRANGER:
            # One address locked: the owner, at home, is not.
            assert (
                await verify(client, await mfa_step(client, OWNER), codes[1])
            ).status_code == 200

    async with new_client(app, "198.51.100.201") as newcomer:
        refused = await verify(newcomer, await mfa_step(newcomer, OWNER), codes[0])
        assert refused.status_code == 423
        assert FIRST_LOCK_SECONDS < int(refused.headers["retry-after"]) <= CEILING_LOCK_SECONDS
    pair = await verify(client, await mfa_step(client, OWNER), device.code())
    assert pair.status_code == 200, pair.text

    lockouts = await audit_rows(app, "auth.lockout")
    assert scopes(lockouts) == [(owner_id, "pair"), (owner_id, "pair"), (owner_id, "account")]
    assert {row["details"]["step"] for row in lockouts} == {"mfa"}
    assert lockouts[-1]["details"]["ceiling"] == 10


async def test_unlock_clears_every_key_of_the_account(database_url: str):
    settings = make_settings(database_url, auth=cheap_auth(lockout_account_threshold=10))
    async with running_app(settings, database_url) as (app, clinic):
        users = await seed_demo(app)
        admin = await login_ok(clinic, ADMIN)
        vet = RIVERSIDE_VET
        async with new_client(app, STRANGER) as stranger:
            for n in range(THRESHOLD):  # locks this pair
                assert (await login(stranger, vet, f"wrong-{n}-password")).status_code == 401
            # Another account's failure, which the unlock must leave alone.
            assert (await login(stranger, RIVERSIDE_MANAGER, "not-it-either")).status_code == 401
        for n in range(1, 6):  # five more addresses, one failure each: the ceiling (10)
            async with new_client(app, f"192.0.2.{n}") as bot:
                assert (await login(bot, vet, "a-wrong-password-too")).status_code == 401
        async with new_client(app, "198.51.100.201") as newcomer:
            assert (await login(newcomer, vet)).status_code == 423
        keys = await throttle_keys(app)
        assert f"login:{vet}|{STRANGER}" in keys
        assert f"login-account:{vet}" in keys
        assert f"login:{vet}|192.0.2.5" in keys

        response = await clinic.post(f"{API}/users/{users[vet].id}/unlock", headers=admin.headers)
        assert response.status_code == 204, response.text

        left = await throttle_keys(app)
        assert not [key for key in left if key.startswith((f"login:{vet}", f"login-account:{vet}"))]
        assert f"login:{RIVERSIDE_MANAGER}|{STRANGER}" in left
        async with new_client(app, STRANGER) as stranger:
            await login_ok(stranger, vet)
        async with new_client(app, "198.51.100.202") as newcomer:
            await login_ok(newcomer, vet)
        (unlock,) = await audit_rows(app, "user.unlock")
        assert unlock["details"]["cleared_keys"] == 1 + 6  # the ceiling, six pairs
        assert unlock["client_address"] == PEER_ADDRESS
