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
from uuid import UUID

import pytest
import pytest_asyncio
from sqlalchemy import text

from tests.api.auth_helpers import cheap_auth
from tests.api.sql_counter import count_statements, counted_request
from tests.fixtures.world import NO_ID, World, open_world
from vetchart.config import RateLimitSettings
from vetchart.domain.owners import AssociationStatus
from vetchart.domain.users import Role

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

APPROVED = AssociationStatus.APPROVED
INACTIVE = AssociationStatus.INACTIVE


@dataclass
class Measurement:
    status: int
    rows: int  # items in the page (1 for a detail)
    statements: list[str]


# The callers of ENDPOINTS, by their label there.
CALLERS = {
    "S_ADMIN": "root@count.example",
    "P_ADMIN": "boss@count.example",
    "OWNER": "client@count.example",
}


@dataclass
class CountWorld(World):
    practice_id: UUID = NO_ID  # P
    owner_id: UUID = NO_ID  # the PET_OWNER's profile
    pet_id: UUID = NO_ID  # its cat
    small: dict[tuple[str, str], Measurement] = field(default_factory=dict)
    large: dict[tuple[str, str], Measurement] = field(default_factory=dict)

    def url_of(self, endpoint: Endpoint) -> str:
        path = endpoint.url.format(practice=self.practice_id, owner=self.owner_id, pet=self.pet_id)
        return f"{API}{path}" if endpoint.detail else f"{API}{path}?limit={GROWN}"

    async def measure(self, into: dict[tuple[str, str], Measurement]) -> None:
        for endpoint in ENDPOINTS:
            for caller in endpoint.callers:
                url, headers = self.url_of(endpoint), self.headers[CALLERS[caller]]
                await self.client.get(url, headers=headers)  # warm-up
                response, counter = await counted_request(
                    self.app, self.client, "GET", url, headers=headers
                )
                body = response.json()
                rows = 1 if endpoint.detail else len(body.get("items", []))
                into[(endpoint.name, caller)] = Measurement(
                    response.status_code, rows, list(counter.statements)
                )


async def build_small_world(world: CountWorld) -> None:
    """One practice P with its PRACTICE_ADMIN, a SYSTEM_ADMIN, and a PET_OWNER whose
    profile (an approved client of P) has one cat; everyone signed in."""
    practice = await world.add_practice("Counting Clinic", timezone="Europe/Berlin")
    await world.add_user(CALLERS["S_ADMIN"], Role.SYSTEM_ADMIN)
    boss = await world.add_user(CALLERS["P_ADMIN"], Role.PRACTICE_ADMIN, practice.id)
    client = await world.add_user(CALLERS["OWNER"], Role.PET_OWNER)
    world.practice_id = practice.id
    world.owner_id = await world.add_owner(
        "Counting Client", {practice.id: APPROVED}, user_id=client.id, by=boss.id
    )
    world.pet_id = (await world.add_pet(world.owner_id, "Counting Cat", species="cat")).id
    await world.sign_in()


async def grow(world: CountWorld) -> None:
    """99 more rows of every kind: each page of ENDPOINTS then holds 100 rows."""
    by = world.users[CALLERS["P_ADMIN"]].id
    async with world.container.uow() as uow:
        for i in range(GROWN - 1):
            await uow.practices.add(
                world.make_practice(f"Counting Clinic {i:03d}", timezone="Europe/Berlin")
            )
            staff = world.make_user(
                f"staff{i:03d}@count.example", Role.VET_STAFF, world.practice_id
            )
            await uow.users.add(staff)
            client = world.make_owner(f"Counting Client {i:03d}")
            await uow.pet_owners.add(client)
            await uow.associations.add(world.make_association(client.id, world.practice_id, by=by))
            # Closed associations do not block one another: the owner's history grows.
            await uow.associations.add(
                world.make_association(world.owner_id, world.practice_id, INACTIVE, by=by)
            )
            await uow.pets.add(
                world.make_pet(world.owner_id, f"Counting Cat {i:03d}", species="cat")
            )
        await uow.commit()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(pg_server_url: str, template_database: str) -> AsyncIterator[CountWorld]:
    async with open_world(
        pg_server_url,
        template_database,
        "count",
        CountWorld,
        auth=cheap_auth(session_cache_seconds=0),
        rate_limit=RateLimitSettings(enabled=False),
    ) as counted:
        await build_small_world(counted)
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
