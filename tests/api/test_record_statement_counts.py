"""Medical-record endpoints send the same, small number of SQL statements whatever the
number of records (or versions): no N+1.

One world for the module: a practice with a VET, and a client of it with a dog. First the
dog has one record (one version, a follow-up due) and every endpoint is measured; then 199
more records (each with a follow-up due) are added and the first record gets 199 more
versions, and everything is measured again with ``limit=200``: the list and the follow-ups
then hold 200 rows, the history 200 versions.

The principal cache is off (``session_cache_seconds=0``), so every request also runs the
session lookup and the counts are deterministic; every measured request follows a
warm-up request of the same kind. Run with ``-s`` to see the counts
(``test_report_the_counts`` prints them).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio

from tests.api.auth_helpers import cheap_auth
from tests.api.sql_counter import counted_request
from tests.fixtures.world import NO_ID, World, open_world
from vetchart.config import RateLimitSettings
from vetchart.domain.owners import AssociationStatus
from vetchart.domain.pets import Pet
from vetchart.domain.policy import ClientScope
from vetchart.domain.records import (
    MedicalRecord,
    PetFacts,
    RecordChanges,
)
from vetchart.domain.users import Role, User

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"
GROWN = 200


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    url: str  # a template over {practice}, {pet}, {record}
    table: str  # the statement that does the work reads (or writes) this table
    rows: str  # "items" when the answer is a list (a page, or the versions); else ""
    # The most statements the request may send, the session lookup included.
    max_statements: int


# Every request here is audited. The list and the single read are the fast path: one
# statement locks the audit chain's head, checks the scope and reads; one appends the audit
# row and moves the head (issue 12: at most 3 with the session lookup). A write locks the
# record with its pet, updates the projection with its event, saves its domain events to
# the outbox with their delivery jobs, then appends its audit row (issue 12: at most 6).
ENDPOINTS = (
    Endpoint("list", "GET", "/pets/{pet}/medical-records?limit=200", "medical_records", "items", 3),
    Endpoint("get", "GET", "/medical-records/{record}", "medical_records", "", 3),
    Endpoint(
        "history",
        "GET",
        "/medical-records/{record}/history?limit=200",
        "medical_record_events",
        "items",
        3,
    ),
    Endpoint(
        "follow-ups",
        "GET",
        "/practices/{practice}/follow-ups?limit=200",
        "medical_records",
        "items",
        5,
    ),
    # Last: its versions come after the history was measured.
    Endpoint("amend", "PATCH", "/medical-records/{record}", "medical_record_events", "", 6),
)

APPROVED = AssociationStatus.APPROVED


@dataclass
class Measurement:
    status: int
    rows: int
    statements: list[str]


VET = "vet@count.example"


@dataclass
class CountWorld(World):
    practice_id: UUID = NO_ID
    dog: Pet | None = None
    first_record: UUID = NO_ID
    small: dict[str, Measurement] = field(default_factory=dict)
    large: dict[str, Measurement] = field(default_factory=dict)
    _amendments: int = 0

    @property
    def vet(self) -> User:
        return self.users[VET]

    @property
    def vet_headers(self) -> dict[str, str]:
        return self.headers[VET]

    @property
    def facts(self) -> PetFacts:
        assert self.dog is not None
        return PetFacts(self.dog.id, self.dog.species, self.dog.date_of_birth, self.dog.is_active)

    def new_record(self, n: int) -> MedicalRecord:
        """A check-up 30 days ago or more, with a follow-up due a week after it."""
        assert self.dog is not None
        return self.make_record(
            self.dog,
            self.practice_id,
            self.vet.id,
            title=f"Check-up {n}",
            visit_date=self.today() - timedelta(days=30 + n % 300),
            follow_up_in_days=7,
        )

    async def patch_kwargs(self) -> dict[str, Any]:
        """An amendment of the first record based on its current version."""
        current = await self.client.get(
            f"{API}/medical-records/{self.first_record}", headers=self.vet_headers
        )
        self._amendments += 1
        return {
            "json": {"diagnosis": f"Measured {self._amendments}"},
            "headers": {**self.vet_headers, "If-Match": current.headers["etag"]},
        }

    async def measure(self, into: dict[str, Measurement]) -> None:
        for endpoint in ENDPOINTS:
            url = API + endpoint.url.format(
                practice=self.practice_id, pet=self.facts.id, record=self.first_record
            )
            for _warm_up_first in (True, False):
                kwargs = (
                    await self.patch_kwargs()
                    if endpoint.method == "PATCH"
                    else {"headers": self.vet_headers}
                )
                response, counter = await counted_request(
                    self.app, self.client, endpoint.method, url, **kwargs
                )
                assert response.status_code == 200, response.text
            rows = len(response.json()["items"]) if endpoint.rows else 1
            into[endpoint.name] = Measurement(response.status_code, rows, counter.statements)


async def build_world(world: CountWorld) -> None:
    """A practice with a VET (signed in), a client of it with a dog, and one record."""
    practice = await world.add_practice("Counting Clinic", timezone="UTC")
    vet = await world.add_user(VET, Role.VET, practice.id, full_name="Dr Count", sign_in=True)
    owner = await world.add_owner("Counting Client", {practice.id: APPROVED}, by=vet.id)
    world.practice_id = practice.id
    world.dog = await world.add_pet(owner, "Counting Dog", species="dog")
    first = world.new_record(0)
    await world.add_records([first])
    world.first_record = first.id


async def grow(world: CountWorld) -> None:
    """199 more records, and the first record up to 200 versions."""
    c = world.container
    async with c.uow() as uow:
        for n in range(1, GROWN):
            await uow.records.add(world.new_record(n))
        everything = ClientScope(everything=True)
        record = await uow.records.get(world.first_record, everything, for_update=True)
        assert record is not None
        now = c.clock.now()
        while record.version < GROWN:
            record.amend(
                changes=RecordChanges(
                    treatment=f"Step {record.version}", amendment_reason="Counting"
                ),
                pet=world.facts,
                actor_id=world.vet.id,
                now=now,
                auto_finalise_after=timedelta(hours=24),
            )
        await uow.records.save(record)
        await uow.commit()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(pg_server_url: str, template_database: str) -> AsyncIterator[CountWorld]:
    async with open_world(
        pg_server_url,
        template_database,
        "reccount",
        CountWorld,
        auth=cheap_auth(session_cache_seconds=0),
        rate_limit=RateLimitSettings(enabled=False),
    ) as counted:
        await build_world(counted)
        await counted.measure(counted.small)
        await grow(counted)
        await counted.measure(counted.large)
        yield counted


def _report(world: CountWorld, name: str) -> str:
    lines = []
    for label, measurement in (("1 record", world.small[name]), ("200", world.large[name])):
        lines.append(f"{name}, {label}: {len(measurement.statements)} statement(s)")
        lines += [f"  {' '.join(s.split())[:160]}" for s in measurement.statements]
    return "\n".join(lines)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
async def test_same_statements_for_1_and_200_records(world: CountWorld, endpoint: Endpoint) -> None:
    small, large = world.small[endpoint.name], world.large[endpoint.name]
    report = _report(world, endpoint.name)
    expected_rows = (1, GROWN) if endpoint.rows else (1, 1)
    assert (small.rows, large.rows) == expected_rows, report
    # The counter saw the statement that does the work, not only the session lookup.
    works_on = re.compile(rf"\b(FROM|INTO|UPDATE) {endpoint.table}\b")
    assert any(works_on.search(s) for s in large.statements), report
    assert len(small.statements) == len(large.statements), report
    assert len(large.statements) <= endpoint.max_statements, report


async def test_report_the_counts(world: CountWorld) -> None:
    """The statements per request (for the issue's note); pytest -s shows them."""
    counts = {e.name: len(world.large[e.name].statements) for e in ENDPOINTS}
    print("\nstatements per request (session lookup included):")
    for endpoint in ENDPOINTS:
        print(f"  {endpoint.method} {endpoint.url}: {counts[endpoint.name]}")
        for statement in world.large[endpoint.name].statements:
            print(f"    {' '.join(statement.split())[:90]}")
    assert all(count >= 1 for count in counts.values()), counts
