"""API keys through the API on PostgreSQL (docs/auth.md, "API keys").

Management (a practice's PRACTICE_ADMIN only): create (the plaintext in that answer only,
the SHA-256 of the secret at rest), list, read, revoke; bad input refused with 422 and
nothing stored. Use: a key authenticates as Bearer or X-API-Key, acts within its practice
with its scopes only (403 ``api-key-scope``), never on a person's routes (403
``api-key-not-allowed``); a revoked or expired key is refused at once (401, audited);
rate limited per key and, for refused keys, per address; every audit row of a key's
request names the key.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import select, update

from tests.api.auth_helpers import (
    ADMIN,
    API,
    HILLCREST_MANAGER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_VET,
    audit_rows,
    new_client,
    problem_type,
)
from tests.api.test_session_cache_invalidation import changes, deliver
from tests.conftest import make_settings
from tests.fixtures.world import World, start
from vetchart.adapters.cache import MemoryDashboardCache
from vetchart.adapters.db.tables import api_keys
from vetchart.adapters.security.cache import TtlPrincipalCache
from vetchart.config import ApiKeySettings, Settings
from vetchart.domain.api_keys import KEY_PATTERN, parse
from vetchart.services.api_keys import cache_slot
from vetchart.services.invalidation import CacheInvalidation

KEY_LIMIT = 8
FAILURE_LIMIT = 4
SCOPES = [
    "pet.create",
    "pet.read",
    "pet_owner.create",
    "pet_owner.read",
    "practice.read",
    "practice.staff_list",
]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(
        database_url,
        api_keys=ApiKeySettings(
            rate_limit=f"{KEY_LIMIT}/minute", failure_rate_limit=f"{FAILURE_LIMIT}/minute"
        ),
    )


@pytest.fixture
async def world(app: FastAPI, client: AsyncClient) -> World:
    w = await start(app, client)
    await w.sign_in(RIVERSIDE_MANAGER, RIVERSIDE_VET, HILLCREST_MANAGER, ADMIN)
    return w


# --------------------------------------------------------------------------- helpers


def keys_url(practice_id: UUID, key_id: str | None = None) -> str:
    base = f"{API}/practices/{practice_id}/api-keys"
    return base if key_id is None else f"{base}/{key_id}"


async def create(
    world: World, body: dict[str, Any] | None = None, email: str = RIVERSIDE_MANAGER
) -> Response:
    return await world.client.post(
        keys_url(world.riverside),
        json=body if body is not None else {"name": "Booking site", "scopes": SCOPES},
        headers=await world.h(email),
    )


async def new_key(world: World, **body: Any) -> dict[str, Any]:
    response = await create(world, {"name": "Booking site", "scopes": SCOPES, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def as_key(key: str, *, header: str = "bearer") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-API-Key": key}


async def stored(app: FastAPI) -> list[dict[str, Any]]:
    async with app.state.container.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(api_keys))).mappings()]


async def staff_of(world: World, practice_id: UUID, headers: dict[str, str]) -> Response:
    return await world.client.get(f"{API}/practices/{practice_id}/staff", headers=headers)


# --------------------------------------------------------------------------- management


async def test_create_shows_the_key_once_and_keeps_only_the_digest(world: World) -> None:
    made = await new_key(world, expires_at="2099-01-01T00:00:00Z")
    key = made["key"]
    assert KEY_PATTERN.fullmatch(key), key
    presented = parse(key)
    assert presented is not None
    assert made["prefix"] == f"vck_{presented.public_id}"
    assert made["scopes"] == sorted(SCOPES)
    assert made["state"] == "active"
    assert made["created_by"] == str(world.users[RIVERSIDE_MANAGER].id)
    assert made["expires_at"].startswith("2099-01-01")

    (row,) = await stored(world.app)
    assert row["public_id"] == presented.public_id
    assert row["secret_hash"] == hashlib.sha256(presented.secret.encode()).digest()
    assert presented.secret not in repr(row)  # no column holds the secret

    headers = await world.h(RIVERSIDE_MANAGER)
    read = await world.client.get(keys_url(world.riverside, made["id"]), headers=headers)
    listed = await world.client.get(keys_url(world.riverside), headers=headers)
    assert read.status_code == 200
    assert listed.status_code == 200
    for shown in (read.json(), listed.json()["items"][0]):
        assert "key" not in shown
        assert presented.secret not in str(shown)
        assert {k: v for k, v in made.items() if k != "key"} == shown

    (created,) = await audit_rows(world.app, "api_key.create")
    assert created["resource_type"] == "api_key"
    assert created["resource_id"] == made["id"]
    assert created["practice_id"] == world.riverside
    assert created["details"]["public_id"] == presented.public_id
    assert presented.secret not in str(created["details"])


async def test_the_list_is_paginated_newest_first(world: World) -> None:
    ids = [(await new_key(world, name=f"key {n}"))["id"] for n in range(3)]
    headers = await world.h(RIVERSIDE_MANAGER)
    first = await world.client.get(keys_url(world.riverside), params={"limit": 2}, headers=headers)
    assert first.status_code == 200
    page = first.json()
    assert [k["id"] for k in page["items"]] == ids[::-1][:2]
    second = await world.client.get(
        keys_url(world.riverside),
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=headers,
    )
    assert [k["id"] for k in second.json()["items"]] == ids[:1]
    assert second.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["user.update"]}, "scopes"),  # never a key's
        ({"name": "x", "scopes": ["api_key.manage"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"scopes": ["pet.read"]}, "name"),
        ({"name": "", "scopes": ["pet.read"]}, "name"),
        ({"name": "   ", "scopes": ["pet.read"]}, "name"),
        ({"name": "x" * 201, "scopes": ["pet.read"]}, "name"),
        ({"name": "x", "scopes": ["pet.read"], "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["pet.read"], "expires_at": "2099-01-01T00:00:00"}, "expires_at"),
        ({"name": "x", "scopes": ["pet.read"], "expires_at": "3000-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "scopes": ["pet.read"], "secret_hash": "00"}, "secret_hash"),
    ],
)
async def test_bad_input_is_422_and_changes_nothing(
    world: World, body: dict[str, Any], field: str
) -> None:
    response = await create(world, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text
    assert await stored(world.app) == []
    assert await audit_rows(world.app, "api_key.create") == []


@pytest.mark.parametrize("email", [RIVERSIDE_VET, HILLCREST_MANAGER, ADMIN])
async def test_only_the_practices_admin_manages_its_keys(world: World, email: str) -> None:
    made = await new_key(world)
    headers = await world.h(email)
    refused = await create(world, email=email)
    listed = await world.client.get(keys_url(world.riverside), headers=headers)
    read = await world.client.get(keys_url(world.riverside, made["id"]), headers=headers)
    revoked = await world.client.delete(keys_url(world.riverside, made["id"]), headers=headers)
    assert (refused.status_code, listed.status_code) == (403, 403)
    # Another practice's admin does not see the key; others are refused by the matrix.
    expected = 404 if email == HILLCREST_MANAGER else 403
    assert (read.status_code, revoked.status_code) == (expected, expected)
    assert len(await stored(world.app)) == 1
    (row,) = await stored(world.app)
    assert row["revoked_at"] is None
    denied = [r for r in await audit_rows(world.app) if r["action"].startswith("api_key.")]
    assert {r["outcome"] for r in denied if r["actor_id"] == world.users[email].id} == {"denied"}


async def test_a_key_of_one_practice_is_not_found_under_another(world: World) -> None:
    made = await new_key(world)
    elsewhere = await world.client.get(
        keys_url(world.hillcrest, made["id"]), headers=await world.h(HILLCREST_MANAGER)
    )
    assert elsewhere.status_code == 404
    wrong_path = await world.client.get(
        keys_url(world.hillcrest, made["id"]), headers=await world.h(RIVERSIDE_MANAGER)
    )
    assert wrong_path.status_code == 404


# --------------------------------------------------------------------------- use


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
async def test_a_key_reads_and_writes_within_its_scopes_and_is_audited_as_the_key(
    world: World, header: str
) -> None:
    made = await new_key(world)
    headers = as_key(made["key"], header=header)
    owner = await world.client.post(
        f"{API}/pet-owners", json={"full_name": "Robin Integration"}, headers=headers
    )
    assert owner.status_code == 201, owner.text
    pet = await world.client.post(
        f"{API}/pets",
        json={"owner_id": owner.json()["id"], "name": "Pixel", "species": "cat"},
        headers=headers,
    )
    assert pet.status_code == 201, pet.text
    read = await world.client.get(f"{API}/pets/{pet.json()['id']}", headers=headers)
    assert read.status_code == 200
    assert read.json()["name"] == "Pixel"
    # The practice's staff see what the key made: it acted for the practice.
    by_staff = await world.client.get(
        f"{API}/pets/{pet.json()['id']}", headers=await world.h(RIVERSIDE_VET)
    )
    assert by_staff.status_code == 200

    key_id = UUID(made["id"])
    rows = [r for r in await audit_rows(world.app) if r["actor_id"] == key_id]
    assert {r["action"] for r in rows} >= {"pet_owner.create", "pet.create", "pet.read"}
    for row in rows:
        assert row["actor_role"] == "API_KEY"
        assert row["details"]["api_key_created_by"] == str(world.users[RIVERSIDE_MANAGER].id)
        assert row["practice_id"] == world.riverside

    (row,) = await stored(world.app)
    assert row["last_used_at"] is not None


async def test_an_action_outside_the_scopes_is_403_api_key_scope(world: World) -> None:
    made = await new_key(world, scopes=["pet.read"])
    headers = as_key(made["key"])
    for method, path, body in [
        ("POST", f"{API}/pet-owners", {"full_name": "Nope"}),
        ("GET", f"{API}/pet-owners", None),
        ("GET", f"{API}/practices/{world.riverside}/staff", None),
        ("GET", f"{API}/audit-events", None),
        ("GET", f"{API}/practices/{world.riverside}/webhooks", None),
    ]:
        response = await world.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (path, response.text)
        assert problem_type(response).endswith("api-key-scope"), (path, response.text)
    refusals = [r for r in await audit_rows(world.app) if r["actor_id"] == UUID(made["id"])]
    assert refusals
    assert {r["outcome"] for r in refusals} == {"denied"}
    assert {r["actor_role"] for r in refusals} == {"API_KEY"}


async def test_a_key_acts_within_its_practice_only(world: World) -> None:
    made = await new_key(world)
    key = as_key(made["key"])
    # Like the practice's own admin: another practice's staff list is refused...
    as_admin = await staff_of(world, world.hillcrest, await world.h(RIVERSIDE_MANAGER))
    as_key_ = await staff_of(world, world.hillcrest, key)
    assert as_key_.status_code == as_admin.status_code == 403
    assert (await staff_of(world, world.riverside, key)).status_code == 200
    # ...and another practice's client does not exist for it.
    owner = await world.create_owner(HILLCREST_MANAGER, full_name="Hill Client")
    pet = await world.create_pet(HILLCREST_MANAGER, owner["id"])
    assert (await world.client.get(f"{API}/pets/{pet['id']}", headers=key)).status_code == 404
    listed = await world.client.get(f"{API}/pets", headers=key)
    assert listed.status_code == 200
    assert pet["id"] not in {p["id"] for p in listed.json()["items"]}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users/me"),
        ("PATCH", "/users/me"),
        ("GET", "/users"),
        ("POST", "/auth/logout"),
        ("GET", "/auth/sessions"),
        ("POST", "/auth/mfa/totp"),
        ("POST", "/auth/password"),
        ("GET", "/practices/{riverside}/invitations"),
        ("POST", "/practices/{riverside}/invitations"),
        ("GET", "/practices/{riverside}/api-keys"),
        ("POST", "/practices/{riverside}/api-keys"),
    ],
)
async def test_a_persons_routes_refuse_keys(world: World, method: str, path: str) -> None:
    made = await new_key(world)
    url = API + path.format(riverside=world.riverside)
    for headers in (as_key(made["key"]), as_key(made["key"], header="x-api-key")):
        response = await world.client.request(method, url, json={}, headers=headers)
        assert response.status_code == 403, response.text
        assert problem_type(response).endswith("api-key-not-allowed")
    assert len(await stored(world.app)) == 1


async def test_a_revoked_key_is_refused_at_once_here_and_forgotten_elsewhere(
    world: World,
) -> None:
    made = await new_key(world)
    key = as_key(made["key"])
    assert (await staff_of(world, world.riverside, key)).status_code == 200
    presented = parse(made["key"])
    assert presented is not None
    slot = cache_slot(presented.public_id)
    cached = world.container.principal_cache.get(slot)
    assert cached is not None
    assert cached.api_key_id == UUID(made["id"])
    elsewhere = TtlPrincipalCache(ttl_seconds=60)  # another API process's cache
    elsewhere.put(cached)

    manager = await world.h(RIVERSIDE_MANAGER)
    revoked = await world.client.delete(keys_url(world.riverside, made["id"]), headers=manager)
    assert revoked.status_code == 204
    refused = await staff_of(world, world.riverside, key)
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.headers["www-authenticate"] == "Bearer"
    # Revoking again: 204, nothing changes (one revocation row).
    again = await world.client.delete(keys_url(world.riverside, made["id"]), headers=manager)
    assert again.status_code == 204
    assert len(await audit_rows(world.app, "api_key.revoke")) == 1
    read = await world.client.get(keys_url(world.riverside, made["id"]), headers=manager)
    assert read.json()["state"] == "revoked"
    assert read.json()["revoked_at"] is not None

    assert await changes(world.app) == [
        {
            "user_id": str(world.users[RIVERSIDE_MANAGER].id),
            "session_ids": [str(slot)],
            "reason": "api_key_revoked",
        }
    ]
    assert elsewhere.get(slot) is not None
    assert await deliver(world.app, CacheInvalidation(MemoryDashboardCache(60), elsewhere)) >= 1
    assert elsewhere.get(slot) is None

    (rejected,) = await audit_rows(world.app, "auth.api_key_rejected")
    assert rejected["outcome"] == "denied"
    assert rejected["resource_id"] == made["id"]
    assert rejected["details"] == {"reason": "revoked", "public_id": presented.public_id}


class _Later:
    def __init__(self, by: timedelta) -> None:
        self._by = by

    def now(self) -> datetime:
        return datetime.now(UTC) + self._by


async def test_an_expired_key_is_refused_even_when_remembered(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)
    made = await new_key(world, expires_at=expires.isoformat())
    key = as_key(made["key"])
    assert (await staff_of(world, world.riverside, key)).status_code == 200  # now remembered
    monkeypatch.setattr(world.container.api_keys, "_clock", _Later(timedelta(hours=2)))
    refused = await staff_of(world, world.riverside, key)
    assert refused.status_code == 401
    (rejected,) = await audit_rows(world.app, "auth.api_key_rejected")
    assert rejected["details"]["reason"] == "expired"


@pytest.mark.parametrize(
    "credential",
    [
        "vck_" + "a" * 16 + "_" + "b" * 52,  # well formed, unknown
        "vck_not-a-key",
        "vck_" + "a" * 16 + "_" + "B" * 52,
    ],
)
async def test_an_unknown_key_is_401_and_audited(world: World, credential: str) -> None:
    for headers in (as_key(credential), as_key(credential, header="x-api-key")):
        response = await staff_of(world, world.riverside, headers)
        assert response.status_code == 401
        assert problem_type(response).endswith("api-key-invalid")
    rows = await audit_rows(world.app, "auth.api_key_rejected")
    assert len(rows) == 2
    assert {r["actor_id"] for r in rows} == {None}


async def test_the_right_public_id_with_a_wrong_secret_is_refused(world: World) -> None:
    made = await new_key(world)
    forged = made["key"][:-1] + ("a" if made["key"][-1] != "a" else "b")
    assert (await staff_of(world, world.riverside, as_key(forged))).status_code == 401
    # Also when the real key's principal is remembered.
    assert (await staff_of(world, world.riverside, as_key(made["key"]))).status_code == 200
    assert (await staff_of(world, world.riverside, as_key(forged))).status_code == 401
    reasons = [r["details"]["reason"] for r in await audit_rows(world.app, "auth.api_key_rejected")]
    assert reasons == ["unknown", "unknown"]


async def test_last_used_is_written_at_most_once_per_interval(world: World) -> None:
    made = await new_key(world)
    key = as_key(made["key"])
    async with world.container.engine.begin() as conn:
        await conn.execute(update(api_keys).values(last_used_at=datetime(2020, 1, 1, tzinfo=UTC)))
    world.container.principal_cache.invalidate([cache_slot(made["prefix"][4:])])
    assert (await staff_of(world, world.riverside, key)).status_code == 200
    (row,) = await stored(world.app)
    first = row["last_used_at"]
    assert first > datetime(2020, 1, 1, tzinfo=UTC)
    world.container.principal_cache.invalidate([cache_slot(made["prefix"][4:])])
    assert (await staff_of(world, world.riverside, key)).status_code == 200
    (row,) = await stored(world.app)
    assert row["last_used_at"] == first  # within the interval: not written again


async def test_keys_are_rate_limited_per_key(world: World) -> None:
    one, two = await new_key(world, name="one"), await new_key(world, name="two")
    answers = [
        (await staff_of(world, world.riverside, as_key(one["key"]))).status_code
        for _ in range(KEY_LIMIT + 1)
    ]
    assert answers == [200] * KEY_LIMIT + [429]
    limited = await staff_of(world, world.riverside, as_key(one["key"]))
    assert limited.status_code == 429
    assert "retry-after" in limited.headers
    assert problem_type(limited).endswith("too-many-requests")
    # Another key, and the key's maker, have their own budgets.
    assert (await staff_of(world, world.riverside, as_key(two["key"]))).status_code == 200
    manager = await world.h(RIVERSIDE_MANAGER)
    assert (await staff_of(world, world.riverside, manager)).status_code == 200


async def test_refused_keys_from_one_ipv6_64_share_one_budget(world: World) -> None:
    bad = as_key("vck_" + "z" * 16 + "_" + "y" * 52)
    url = f"{API}/practices/{world.riverside}/staff"
    answers = []
    for index in range(FAILURE_LIMIT + 1):  # a new address of the same /64 each time
        async with new_client(world.app, f"2001:db8:aa:1::{index + 1:x}") as rotating:
            answers.append((await rotating.get(url, headers=bad)).status_code)
    assert answers == [401] * FAILURE_LIMIT + [429]
    async with new_client(world.app, "2001:db8:aa:2::1") as neighbour:  # the next /64
        assert (await neighbour.get(url, headers=bad)).status_code == 401


async def test_refused_keys_are_rate_limited_per_address(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The principal cache's 2 s must not run out mid-test on a slow machine.
    monkeypatch.setattr(world.container.principal_cache, "_ttl", 60.0)
    made = await new_key(world)
    working = await new_key(world)  # in use from the same address: authenticated just now
    assert (await staff_of(world, world.riverside, as_key(working["key"]))).status_code == 200
    bad = as_key("vck_" + "z" * 16 + "_" + "y" * 52)
    answers = [
        (await staff_of(world, world.riverside, bad)).status_code for _ in range(FAILURE_LIMIT + 2)
    ]
    assert answers == [401] * FAILURE_LIMIT + [429, 429]
    # Past the limit nothing is looked up or audited for that address.
    assert len(await audit_rows(world.app, "auth.api_key_rejected")) == FAILURE_LIMIT
    # Even a good key from that address waits (no oracle while spent)...
    assert (await staff_of(world, world.riverside, as_key(made["key"]))).status_code == 429
    # ...unless this process authenticated it a moment ago: junk keys from a shared
    # address do not lock a working integration out.
    assert (await staff_of(world, world.riverside, as_key(working["key"]))).status_code == 200
    # People are not affected.
    manager = await world.h(RIVERSIDE_MANAGER)
    assert (await staff_of(world, world.riverside, manager)).status_code == 200
