"""Idempotency-Key on creating POSTs (API.md "Conventions")."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select

from tests.api.auth_helpers import (
    API,
    OWNER,
    RIVERSIDE_VET,
    bearer,
    login_ok,
    seed_demo,
)
from vetchart.adapters.db.tables import idempotency_keys, pets


async def _pet_count(app: FastAPI) -> int:
    async with app.state.container.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(pets)) or 0)


async def _owner_id(client: AsyncClient, token: str) -> str:
    response = await client.get(f"{API}/pet-owners", headers=bearer(token))
    assert response.status_code == 200, response.text
    return str(response.json()["items"][0]["id"])


async def test_a_retry_with_the_same_key_returns_the_first_response(
    app: FastAPI, client: AsyncClient
) -> None:
    await seed_demo(app)
    token = (await login_ok(client, OWNER)).access
    owner_id = await _owner_id(client, token)
    body = {"owner_id": owner_id, "name": "Nimbus", "species": "cat"}
    headers = {**bearer(token), "Idempotency-Key": "create-nimbus-1"}
    before = await _pet_count(app)

    first = await client.post(f"{API}/pets", json=body, headers=headers)
    again = await client.post(f"{API}/pets", json=body, headers=headers)

    assert first.status_code == 201, first.text
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _pet_count(app) == before + 1


async def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
    app: FastAPI, client: AsyncClient
) -> None:
    await seed_demo(app)
    token = (await login_ok(client, OWNER)).access
    owner_id = await _owner_id(client, token)
    headers = {**bearer(token), "Idempotency-Key": "k-42"}
    first = await client.post(
        f"{API}/pets", json={"owner_id": owner_id, "name": "A", "species": "cat"}, headers=headers
    )
    assert first.status_code == 201
    before = await _pet_count(app)
    other = await client.post(
        f"{API}/pets", json={"owner_id": owner_id, "name": "B", "species": "cat"}, headers=headers
    )
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["type"].endswith("idempotency-key-reused")
    assert await _pet_count(app) == before


async def test_keys_are_per_user_and_failures_are_kept_but_not_server_errors(
    app: FastAPI, client: AsyncClient
) -> None:
    await seed_demo(app)
    owner_token = (await login_ok(client, OWNER)).access
    vet_token = (await login_ok(client, RIVERSIDE_VET)).access
    owner_id = await _owner_id(client, owner_token)
    body = {"owner_id": owner_id, "name": "Same", "species": "dog"}
    key = {"Idempotency-Key": "shared-key"}
    as_owner = await client.post(f"{API}/pets", json=body, headers={**bearer(owner_token), **key})
    as_vet = await client.post(f"{API}/pets", json=body, headers={**bearer(vet_token), **key})
    assert as_owner.status_code == 201
    assert as_vet.status_code == 201  # another user: a separate key space
    assert as_owner.json()["id"] != as_vet.json()["id"]

    # A refused request (422) is a response like any other: the retry gets it again.
    bad = {"owner_id": owner_id, "name": "Heavy", "species": "horse", "weight_kg": 2000}
    headers = {**bearer(owner_token), "Idempotency-Key": "too-heavy"}
    first = await client.post(f"{API}/pets", json=bad, headers=headers)
    again = await client.post(f"{API}/pets", json=bad, headers=headers)
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()


async def test_concurrent_duplicates_create_one_object(app: FastAPI, client: AsyncClient) -> None:
    await seed_demo(app)
    token = (await login_ok(client, OWNER)).access
    owner_id = await _owner_id(client, token)
    body = {"owner_id": owner_id, "name": "Racer", "species": "dog"}
    headers = {**bearer(token), "Idempotency-Key": "race-1"}
    before = await _pet_count(app)
    responses = await asyncio.gather(
        *(client.post(f"{API}/pets", json=body, headers=headers) for _ in range(4))
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}
    assert 201 in statuses
    created_ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created_ids) == 1
    assert await _pet_count(app) == before + 1


async def test_invalid_keys_and_anonymous_requests(app: FastAPI, client: AsyncClient) -> None:
    await seed_demo(app)
    token = (await login_ok(client, OWNER)).access
    response = await client.post(
        f"{API}/pets", json={}, headers={**bearer(token), "Idempotency-Key": "x" * 256}
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("idempotency-key-invalid")
    # Without a user there is no key space: the request is processed as usual (401 here).
    anonymous = await client.post(f"{API}/pets", json={}, headers={"Idempotency-Key": "anon"})
    assert anonymous.status_code == 401
    async with app.state.container.engine.connect() as conn:
        keys = await conn.scalar(select(func.count()).select_from(idempotency_keys))
    assert keys == 0
