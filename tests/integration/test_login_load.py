"""Sign-in under hashing load, through the app on a real database: old hashes are re-hashed
at sign-in, and a full hashing queue sheds with 503 + Retry-After without counting a failed
sign-in or writing a failure audit row. Blocking is deterministic (a gate on the worker
function of a thread pool), never a sleep."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response

from tests.api.auth_helpers import (
    API,
    OTHER_STRONG_PASSWORD,
    PEER_ADDRESS,
    STRONG_PASSWORD,
    audit_rows,
    bearer,
    cheap_auth,
    get_user,
    login,
    login_ok,
    running_app,
    same_problem,
    signup,
)
from tests.conftest import make_settings
from vetchart.adapters.security import passwords as hashing
from vetchart.config import AuthSettings
from vetchart.domain.errors import Unavailable
from vetchart.domain.passwords import normalize_password
from vetchart.domain.throttle import password_keys

EMAIL = "load.person@example.com"
POLL_SECONDS = 0.005
POLL_ROUNDS = 1000


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(POLL_ROUNDS):
        if condition():
            return
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError("condition not reached")


class Gate:
    """While closed, the pool's verify function waits: the one worker is busy."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = threading.Event()
        self.opened.set()
        real = hashing.verify_password

        def gated(password_hash: str, password: str) -> bool:
            self.opened.wait(timeout=10)
            return real(password_hash, password)

        monkeypatch.setattr(hashing, "verify_password", gated)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate(monkeypatch)
    yield gate
    gate.opened.set()


async def _store_hash(app: FastAPI, email: str, password_hash: str) -> None:
    async with app.state.container.uow() as uow:
        user = await uow.users.get_by_email(email)
        assert user is not None
        await uow.users.save(replace(user, password_hash=password_hash))
        await uow.commit()


async def _throttle(app: FastAPI, email: str) -> object:
    """The failures counted on this account name: from the client's address, or at all."""
    keys = password_keys(email, None, PEER_ADDRESS)
    async with app.state.container.uow() as uow:
        found = [await uow.throttles.peek(key) for key in (keys.pair, keys.account)]
    return [state for state in found if state is not None] or None


# ---------------------------------------------------------------- re-hash at sign-in


async def test_a_hash_of_old_parameters_verifies_and_is_rehashed_at_sign_in(
    database_url: str,
) -> None:
    settings = make_settings(database_url, auth=cheap_auth(argon2_time_cost=2))
    async with running_app(settings, database_url) as (app, client):
        assert (await signup(client, EMAIL)).status_code == 201
        old = hashing.hash_password(1, 8192, 1, normalize_password(STRONG_PASSWORD))
        await _store_hash(app, EMAIL, old)

        await login_ok(client, EMAIL, STRONG_PASSWORD)
        user = await get_user(app, EMAIL)
        assert user is not None
        assert user.password_hash != old
        assert user.password_hash.startswith("$argon2id$v=19$m=8192,t=2,p=1$")
        assert hashing.verify_password(user.password_hash, normalize_password(STRONG_PASSWORD))
        (row,) = await audit_rows(app, "auth.login")
        assert row["details"]["rehashed"] is True

        # Once re-hashed, the next sign-in has nothing to do.
        await login_ok(client, EMAIL, STRONG_PASSWORD)
        rows = await audit_rows(app, "auth.login")
        assert [r["details"]["rehashed"] for r in rows] == [True, False]


async def test_a_busy_hasher_skips_the_rehash_but_not_the_sign_in(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(database_url, auth=cheap_auth(argon2_time_cost=2))
    async with running_app(settings, database_url) as (app, client):
        assert (await signup(client, EMAIL)).status_code == 201
        old = hashing.hash_password(1, 8192, 1, normalize_password(STRONG_PASSWORD))
        await _store_hash(app, EMAIL, old)

        async def shed(password: str) -> str:
            raise Unavailable("busy", retry_after_seconds=1)

        monkeypatch.setattr(app.state.container.hasher, "hash", shed)
        await login_ok(client, EMAIL, STRONG_PASSWORD)
        user = await get_user(app, EMAIL)
        assert user is not None
        assert user.password_hash == old  # re-hashed at the next sign-in
        (row,) = await audit_rows(app, "auth.login")
        assert row["details"]["rehashed"] is False


# ---------------------------------------------------------------- shedding


async def _busy_app_login(client: AsyncClient, app: FastAPI, gate: Gate) -> asyncio.Task[Response]:
    """A sign-in that holds the only hashing slot until the gate opens."""
    gate.opened.clear()
    holder = asyncio.create_task(login(client, EMAIL, STRONG_PASSWORD))
    await until(lambda: app.state.container.hasher.stats().in_flight == 1)
    return holder


async def test_a_full_hashing_queue_sheds_sign_ins_without_counting_failures(
    database_url: str, gate: Gate
) -> None:
    auth = cheap_auth(
        hash_executor="thread",
        hash_workers=1,
        hash_queue_limit=0,
        hash_queue_timeout_seconds=0.5,
        lockout_threshold=1,
    )
    async with running_app(make_settings(database_url, auth=auth), database_url) as (app, client):
        assert (await signup(client, EMAIL)).status_code == 201
        holder = await _busy_app_login(client, app, gate)

        wrong = await login(client, EMAIL, "a-wrong-password-here")
        unknown = await login(client, "ghost@example.com", "a-wrong-password-here")
        for response in (wrong, unknown):
            assert response.status_code == 503, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.headers["retry-after"] == "1"
        same_problem(wrong, unknown)  # no account enumeration through shedding either
        # Sign-up hashes too, and is shed the same way.
        refused = await signup(client, "someone.else@example.com")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"

        # Nothing was counted or audited as a failure.
        assert await _throttle(app, EMAIL) is None
        assert await _throttle(app, "ghost@example.com") is None
        assert await audit_rows(app, "auth.login_failed") == []
        gate.opened.set()
        # With a threshold of one, a counted failure would have locked the account (423).
        assert (await holder).status_code == 200
        await login_ok(client, EMAIL, STRONG_PASSWORD)
        shed = app.state.container.hasher.stats().shed
        assert shed[hashing.SHED_QUEUE_FULL] == 3


async def test_a_password_change_is_shed_too(database_url: str, gate: Gate) -> None:
    auth = cheap_auth(hash_executor="thread", hash_workers=1, hash_queue_limit=0)
    async with running_app(make_settings(database_url, auth=auth), database_url) as (app, client):
        assert (await signup(client, EMAIL)).status_code == 201
        tokens = await login_ok(client, EMAIL, STRONG_PASSWORD)
        holder = await _busy_app_login(client, app, gate)
        change = await client.post(
            f"{API}/auth/password",
            json={"current_password": STRONG_PASSWORD, "new_password": OTHER_STRONG_PASSWORD},
            headers=bearer(tokens.access),
        )
        assert change.status_code == 503, change.text
        assert "retry-after" in change.headers
        gate.opened.set()
        await holder
        assert await audit_rows(app, "auth.password_change") == []


# ---------------------------------------------------------------- the default pool


async def test_the_app_hashes_in_lowered_worker_processes(database_url: str) -> None:
    # The default niceness (make_settings keeps the test workers' priority).
    default_nice = AuthSettings().hash_worker_nice
    assert default_nice > 0
    auth = cheap_auth(hash_worker_nice=default_nice)
    async with running_app(make_settings(database_url, auth=auth), database_url) as (
        app,
        client,
    ):
        assert (await signup(client, EMAIL)).status_code == 201
        await login_ok(client, EMAIL, STRONG_PASSWORD)
        hasher = app.state.container.hasher
        pid, niceness = await hasher.worker_identity()
        assert hasher.stats().executor == "process"
        assert pid != os.getpid()
        assert niceness > os.getpriority(os.PRIO_PROCESS, 0)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the app's shutdown stopped the pool
