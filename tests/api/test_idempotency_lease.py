"""Idempotency-Key: only allow-listed creating POSTs take part, never /auth/* (issue 13,
item 4); an unanswered claim holds its key only for its lease, so a claim left by a crashed
process is taken over instead of answering 409 for 24 hours."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, insert, select, update

from tests.api.auth_helpers import API, OWNER, RIVERSIDE_VET, bearer, login_ok, seed_demo
from vetchart.adapters.db.idempotency import KEY_LIFETIME
from vetchart.adapters.db.tables import idempotency_keys, pets
from vetchart.api.idempotency import IDEMPOTENT_ROUTES, fingerprint, honours_key
from vetchart.services.ports.system import Claim, StoredResponse

LEASE = timedelta(seconds=60)


async def _count(app: FastAPI, table: Any) -> int:
    async with app.state.container.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def _owner_id(client: AsyncClient, token: str) -> str:
    response = await client.get(f"{API}/pet-owners", headers=bearer(token))
    assert response.status_code == 200, response.text
    return str(response.json()["items"][0]["id"])


def _json_post(body: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """A JSON body sent byte for byte, and the ASGI scope the middleware fingerprints."""
    raw = json.dumps(body).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": f"{API}/pets",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }
    return raw, scope


async def _leave_claim(app: FastAPI, user_id: UUID, key: str, fp: bytes, age: timedelta) -> None:
    """A claim as a process that died mid-request leaves it: no response, claimed ``age`` ago."""
    claimed_at = app.state.container.clock.now() - age
    async with app.state.container.engine.begin() as conn:
        await conn.execute(
            insert(idempotency_keys).values(
                user_id=user_id,
                key=key,
                fingerprint=fp,
                created_at=claimed_at,
                expires_at=claimed_at + KEY_LIFETIME,
            )
        )


async def _age_claim(app: FastAPI, user_id: UUID, key: str, age: timedelta) -> None:
    claimed_at = app.state.container.clock.now() - age
    async with app.state.container.engine.begin() as conn:
        await conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.user_id == user_id, idempotency_keys.c.key == key)
            .values(created_at=claimed_at)
        )


# --------------------------------------------------------------------------- allow-list


async def test_auth_routes_ignore_the_key_and_store_nothing(
    app: FastAPI, client: AsyncClient
) -> None:
    await seed_demo(app)
    tokens = await login_ok(client, RIVERSIDE_VET)
    headers = {**bearer(tokens.access), "Idempotency-Key": "totp-1"}

    first = await client.post(f"{API}/auth/mfa/totp", headers=headers)
    again = await client.post(f"{API}/auth/mfa/totp", headers=headers)

    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json()["secret"] != again.json()["secret"]  # fresh, not replayed
    assert "idempotent-replayed" not in again.headers
    # Even a key the allow-listed routes would refuse is simply ignored here.
    odd = await client.post(
        f"{API}/auth/mfa/totp", headers={**bearer(tokens.access), "Idempotency-Key": "x" * 300}
    )
    assert odd.status_code == 201, odd.text
    assert await _count(app, idempotency_keys) == 0  # no secret stored in clear


async def test_the_allow_list_names_creating_posts_only_and_never_auth(app: FastAPI) -> None:
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    posts = {path for path, operations in paths.items() if "post" in operations}
    assert f"{API}/pets" in posts
    for template in IDEMPOTENT_ROUTES:
        assert template in posts, template  # every entry is a real POST route
        assert not template.startswith(f"{API}/auth/")
        assert "invitations" not in template
    for path in posts:
        concrete = path.replace("{", "").replace("}", "")
        allowed = honours_key({"method": "POST", "path": concrete})
        assert allowed == (path in IDEMPOTENT_ROUTES), path
    assert not honours_key({"method": "POST", "path": f"{API}/auth/mfa/totp"})
    assert not honours_key({"method": "POST", "path": f"{API}/invitations/accept"})
    assert not honours_key({"method": "PATCH", "path": f"{API}/pets"})


# --------------------------------------------------------------------------- lease


async def test_a_claim_is_in_progress_within_its_lease_and_taken_over_after_it(
    app: FastAPI, client: AsyncClient
) -> None:
    users = await seed_demo(app)
    token = (await login_ok(client, OWNER)).access
    owner_id = await _owner_id(client, token)
    raw, scope = _json_post({"owner_id": owner_id, "name": "Phoenix", "species": "cat"})
    user_id = users[OWNER].id
    key = "crashed-1"
    headers = {**bearer(token), "Idempotency-Key": key, "Content-Type": "application/json"}
    await _leave_claim(app, user_id, key, fingerprint(scope, raw), timedelta(seconds=10))
    before = await _count(app, pets)

    busy = await client.post(f"{API}/pets", content=raw, headers=headers)
    assert busy.status_code == 409, busy.text
    assert busy.json()["type"].endswith("idempotency-key-in-progress")
    assert busy.headers["retry-after"] == "1"
    assert await _count(app, pets) == before

    await _age_claim(app, user_id, key, LEASE + timedelta(seconds=1))  # its process died
    taken = await client.post(f"{API}/pets", content=raw, headers=headers)
    assert taken.status_code == 201, taken.text
    assert "idempotent-replayed" not in taken.headers
    assert await _count(app, pets) == before + 1

    again = await client.post(f"{API}/pets", content=raw, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == taken.json()
    assert await _count(app, pets) == before + 1
    async with app.state.container.engine.connect() as conn:
        row = (await conn.execute(select(idempotency_keys))).mappings().one()
    assert row["status_code"] == 201
    assert row["expires_at"] - row["created_at"] >= timedelta(hours=24)


async def test_a_stale_claim_for_another_request_is_still_a_mismatch(
    app: FastAPI, client: AsyncClient
) -> None:
    users = await seed_demo(app)
    token = (await login_ok(client, OWNER)).access
    owner_id = await _owner_id(client, token)
    raw, _ = _json_post({"owner_id": owner_id, "name": "Other", "species": "dog"})
    await _leave_claim(app, users[OWNER].id, "k", b"another request", timedelta(hours=1))
    before = await _count(app, pets)
    response = await client.post(
        f"{API}/pets",
        content=raw,
        headers={**bearer(token), "Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("idempotency-key-reused")
    assert await _count(app, pets) == before


async def test_a_request_that_outlived_its_lease_cannot_touch_its_successor(
    app: FastAPI,
) -> None:
    users = await seed_demo(app)
    store = app.state.container.idempotency
    user_id = users[OWNER].id
    t0 = app.state.container.clock.now()
    slow = await store.claim(user_id, "k", b"fp", t0, lease=LEASE)
    assert slow.claim is Claim.NEW
    assert slow.claimed_at == t0
    assert (await store.claim(user_id, "k", b"fp", t0 + LEASE / 2, lease=LEASE)).claim is (
        Claim.IN_PROGRESS
    )
    t1 = t0 + LEASE + timedelta(seconds=1)
    retry = await store.claim(user_id, "k", b"fp", t1, lease=LEASE)
    assert retry.claim is Claim.NEW
    assert retry.claimed_at == t1

    # The slow first attempt finally ends: neither its failure nor its answer counts.
    await store.abandon(user_id, "k", t0)
    await store.complete(user_id, "k", t0, StoredResponse(500, b"late", {}))
    assert (await store.claim(user_id, "k", b"fp", t1, lease=LEASE)).claim is Claim.IN_PROGRESS

    await store.complete(user_id, "k", t1, StoredResponse(201, b"{}", {}))
    replay = await store.claim(user_id, "k", b"fp", t1 + LEASE * 2, lease=LEASE)
    assert replay.claim is Claim.REPLAY
    assert replay.stored == StoredResponse(201, b"{}", {})


async def test_racing_retries_take_a_stale_claim_over_once(app: FastAPI) -> None:
    users = await seed_demo(app)
    store = app.state.container.idempotency
    user_id = users[OWNER].id
    now = app.state.container.clock.now()
    await _leave_claim(app, user_id, "race", b"fp", LEASE * 2)
    results = await asyncio.gather(
        *(store.claim(user_id, "race", b"fp", now, lease=LEASE) for _ in range(4))
    )
    assert sorted(r.claim.value for r in results) == ["in_progress"] * 3 + ["new"]
