"""List and detail endpoints send the same, small number of SQL statements whatever the
number of rows: no N+1 (a lazy load or a query per item would make 100 rows cost more).

One world for the module: a practice P with its PRACTICE_ADMIN, a SYSTEM_ADMIN and a
PET_OWNER whose profile (an approved client of P) has one pet. In it every list below
has exactly one row for its callers. Each endpoint is measured for each caller, then 99
rows of every kind are added (practices, staff of P, clients of P, closed associations
of the owner with P, pets of the owner) and everything is measured again with
``limit=100``: every page then has 100 rows.

The principal cache is off (``session_cache_seconds=0``), so every request also runs the
session lookup and the counts are deterministic; a warm-up request per endpoint and
caller comes first (pool connections, dialect initialisation).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from tests.api.auth_helpers import DEMO_PASSWORD, cheap_auth, login_ok, new_client
from tests.api.module_database import template_copy
from tests.api.sql_counter import count_statements, counted_request
from tests.conftest import make_settings
from vetchart.api.app import create_app
from vetchart.config import RateLimitSettings
from vetchart.domain.owners import Association, AssociationStatus, PetOwner, RequestType
from vetchart.domain.pets import Pet
from vetchart.domain.practices import Practice
from vetchart.domain.users import Role, User

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"
GROWN = 100
# The most statements any of these requests may send, the session lookup included: pets
# and owners are audited reads (their read and their audit row, in one transaction).
MAX_STATEMENTS = 3


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str  # a template over the world's ids: {practice}, {owner}, {pet}
    callers: tuple[str, ...]
    table: str  # the page (or detail) query reads FROM this table
    detail: bool = False


ENDPOINTS = (
    Endpoint("GET /pets", "/pets", ("P_ADMIN", "OWNER", "S_ADMIN"), "pets"),
    Endpoint("GET /pets/{id}", "/pets/{pet}", ("P_ADMIN", "OWNER", "S_ADMIN"), "pets", True),
    Endpoint("GET /pet-owners", "/pet-owners", ("P_ADMIN", "S_ADMIN"), "pet_owners"),
    Endpoint(
        "GET /pet-owners/{id}",
        "/pet-owners/{owner}",
        ("P_ADMIN", "OWNER", "S_ADMIN"),
        "pet_owners",
        True,
    ),
    Endpoint("GET /practices", "/practices", ("P_ADMIN", "OWNER", "S_ADMIN"), "practices"),
    Endpoint(
        "GET /practices/{id}/staff", "/practices/{practice}/staff", ("P_ADMIN", "S_ADMIN"), "users"
    ),
    Endpoint(
        "GET /practices/{id}/associations",
        "/practices/{practice}/associations",
        ("P_ADMIN", "S_ADMIN"),
        "practice_associations",
    ),
    Endpoint(
        "GET /pet-owners/{id}/associations",
        "/pet-owners/{owner}/associations",
        ("P_ADMIN", "OWNER", "S_ADMIN"),
        "practice_associations",
    ),
    Endpoint("GET /users", "/users", ("P_ADMIN",), "users"),
)


@dataclass
class Measurement:
    status: int
    rows: int  # items in the page (1 for a detail)
    statements: list[str]


@dataclass
class CountWorld:
    app: FastAPI
    client: AsyncClient
    practice: UUID
    owner: UUID
    pet: UUID
    users: dict[str, User]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    small: dict[tuple[str, str], Measurement] = field(default_factory=dict)
    large: dict[tuple[str, str], Measurement] = field(default_factory=dict)

    @property
    def container(self) -> Any:
        return self.app.state.container

    def url(self, endpoint: Endpoint) -> str:
        path = endpoint.url.format(practice=self.practice, owner=self.owner, pet=self.pet)
        return f"{API}{path}" if endpoint.detail else f"{API}{path}?limit={GROWN}"

    async def measure(self, into: dict[tuple[str, str], Measurement]) -> None:
        for endpoint in ENDPOINTS:
            for caller in endpoint.callers:
                url, headers = self.url(endpoint), self.headers[caller]
                await self.client.get(url, headers=headers)  # warm-up
                response, counter = await counted_request(
                    self.app, self.client, "GET", url, headers=headers
                )
                body = response.json()
                rows = 1 if endpoint.detail else len(body.get("items", []))
                into[(endpoint.name, caller)] = Measurement(
                    response.status_code, rows, list(counter.statements)
                )


def _user(world_ids: Any, email: str, role: Role, practice: UUID | None, pw: str) -> User:
    now = world_ids.clock.now()
    return User(
        id=world_ids.ids.new_id(),
        email=email,
        full_name=email.split("@")[0].replace(".", " ").title(),
        role=role,
        practice_id=practice,
        is_active=True,
        password_hash=pw,
        mfa_enabled=False,
        created_at=now,
        updated_at=now,
        password_changed_at=now,
    )


def _association(
    c: Any, owner: UUID, practice: UUID, by: UUID, status: AssociationStatus
) -> Association:
    now = c.clock.now()
    return Association(
        id=c.ids.new_id(),
        pet_owner_id=owner,
        practice_id=practice,
        request_type=RequestType.NEW_CLIENT,
        status=status,
        requested_by=by,
        created_at=now,
        updated_at=now,
        decided_by=by,
        decided_at=now,
        deactivated_by=by if status is AssociationStatus.INACTIVE else None,
        deactivated_at=now if status is AssociationStatus.INACTIVE else None,
    )


def _owner(c: Any, name: str, user_id: UUID | None = None) -> PetOwner:
    now = c.clock.now()
    return PetOwner(
        id=c.ids.new_id(), full_name=name, created_at=now, updated_at=now, user_id=user_id
    )


def _pet(c: Any, owner: UUID, name: str) -> Pet:
    now = c.clock.now()
    return Pet(
        id=c.ids.new_id(), owner_id=owner, name=name, species="cat", created_at=now, updated_at=now
    )


def _practice(c: Any, name: str) -> Practice:
    now = c.clock.now()
    return Practice(
        id=c.ids.new_id(), name=name, timezone="Europe/Berlin", created_at=now, updated_at=now
    )


async def build_small_world(app: FastAPI, client: AsyncClient) -> CountWorld:
    c = app.state.container
    pw = await c.hasher.hash(DEMO_PASSWORD)
    practice = _practice(c, "Counting Clinic")
    users = {
        "S_ADMIN": _user(c, "root@count.example", Role.SYSTEM_ADMIN, None, pw),
        "P_ADMIN": _user(c, "boss@count.example", Role.PRACTICE_ADMIN, practice.id, pw),
        "OWNER": _user(c, "client@count.example", Role.PET_OWNER, None, pw),
    }
    owner = _owner(c, "Counting Client", users["OWNER"].id)
    pet = _pet(c, owner.id, "Counting Cat")
    async with c.uow() as uow:
        await uow.practices.add(practice)
        for user in users.values():
            await uow.users.add(user)
        await uow.pet_owners.add(owner)
        await uow.associations.add(
            _association(c, owner.id, practice.id, users["P_ADMIN"].id, AssociationStatus.APPROVED)
        )
        await uow.pets.add(pet)
        await uow.commit()
    world = CountWorld(app, client, practice.id, owner.id, pet.id, users)
    for caller, user in users.items():
        world.headers[caller] = (await login_ok(client, user.email)).headers
    return world


async def grow(world: CountWorld) -> None:
    """99 more rows of every kind: each page of ENDPOINTS then holds 100 rows."""
    c, by = world.container, world.users["P_ADMIN"].id
    pw = world.users["P_ADMIN"].password_hash
    async with c.uow() as uow:
        for i in range(GROWN - 1):
            await uow.practices.add(_practice(c, f"Counting Clinic {i:03d}"))
            staff = _user(c, f"staff{i:03d}@count.example", Role.VET_STAFF, world.practice, pw)
            await uow.users.add(staff)
            client = _owner(c, f"Counting Client {i:03d}")
            await uow.pet_owners.add(client)
            await uow.associations.add(
                _association(c, client.id, world.practice, by, AssociationStatus.APPROVED)
            )
            # Closed associations do not block one another: the owner's history grows.
            await uow.associations.add(
                _association(c, world.owner, world.practice, by, AssociationStatus.INACTIVE)
            )
            await uow.pets.add(_pet(c, world.owner, f"Counting Cat {i:03d}"))
        await uow.commit()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(pg_server_url: str, template_database: str) -> AsyncIterator[CountWorld]:
    async with template_copy(pg_server_url, template_database, "count") as url:
        settings = make_settings(
            url,
            auth=cheap_auth(session_cache_seconds=0),
            rate_limit=RateLimitSettings(enabled=False),
        )
        app = create_app(settings, database_url=url)
        async with LifespanManager(app), new_client(app) as client:
            counted = await build_small_world(app, client)
            await counted.measure(counted.small)
            await grow(counted)
            await counted.measure(counted.large)
            yield counted


CASES = [(endpoint, caller) for endpoint in ENDPOINTS for caller in endpoint.callers]


@pytest.mark.parametrize(
    ("endpoint", "caller"), CASES, ids=[f"{e.name} as {caller}" for e, caller in CASES]
)
async def test_same_statements_for_1_and_100_rows(
    world: CountWorld, endpoint: Endpoint, caller: str
) -> None:
    small, large = world.small[(endpoint.name, caller)], world.large[(endpoint.name, caller)]
    assert small.status == large.status == 200, (small.status, large.status)
    assert (small.rows, large.rows) == ((1, 1) if endpoint.detail else (1, GROWN))
    report = "\n".join(
        f"{label}: {len(m.statements)}\n  "
        + "\n  ".join(" ".join(s.split())[:200] for s in m.statements)
        for label, m in (("1 row", small), (f"{GROWN} rows", large))
    )
    # The counter saw the query that reads the page (it is attached to the right engine),
    # not only the session lookup (users JOIN auth_sessions).
    reads_table = re.compile(rf"\bFROM {endpoint.table}\b")
    assert any(
        reads_table.search(statement) and "auth_sessions" not in statement
        for statement in large.statements
    ), report
    assert len(small.statements) == len(large.statements), report
    assert len(large.statements) <= MAX_STATEMENTS, report


async def test_counter_counts_and_detaches(world: CountWorld) -> None:
    engine = world.container.engine
    with count_statements(world.app) as counter:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await conn.execute(text("SELECT 2"))
    assert counter.count == 2, counter.report()
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 3"))
    assert counter.count == 2, "the listener must be removed when the block ends"
