"""Medical records against the real PostgreSQL: no lost updates under concurrent
amendments, an append-only history the application's own connection cannot rewrite, and
the domain events the unit of work collects.

One app and one database for the module (the demo data; each test makes its own
records). The pool is larger than the number of concurrent requests, so the requests
really wait on the record's row lock, not on the pool.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
import pytest_asyncio
from httpx import Response
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.api.auth_helpers import (
    HILLCREST_VET,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
)
from tests.fixtures.world import NO_ID, open_world
from tests.fixtures.world import World as BaseWorld
from vetchart.adapters.db.audited_reads import AuditedReader
from vetchart.adapters.db.engine import async_url
from vetchart.adapters.db.records import PgRecordReads, SqlRecordQueries
from vetchart.adapters.db.tables import audit_events, medical_record_events
from vetchart.config import DatabaseSettings, RateLimitSettings
from vetchart.domain.audit import RequestMeta
from vetchart.domain.errors import PreconditionFailed
from vetchart.domain.events import DomainEvent
from vetchart.domain.policy import Principal
from vetchart.domain.records import (
    MedicalRecordAmended,
    MedicalRecordCreated,
    MedicalRecordEnteredInError,
    MedicalRecordSigned,
    RecordChanges,
    RecordContent,
    RecordType,
)
from vetchart.domain.users import User
from vetchart.services.ports.unit_of_work import UnitOfWork
from vetchart.services.records import MedicalRecordService

pytestmark = pytest.mark.asyncio(loop_scope="module")

API = "/api/v1"
AMENDERS = 20
# The SQLSTATE the append-only triggers raise.
INSUFFICIENT_PRIVILEGE = "42501"


@dataclass
class World(BaseWorld):
    dog: UUID = NO_ID  # a dog of a client of Riverside

    async def create(self) -> dict[str, Any]:
        visit = (self.container.clock.now().date() - timedelta(days=1)).isoformat()
        response = await self.client.post(
            f"{API}/pets/{self.dog}/medical-records",
            json={"record_type": "checkup", "title": "Check-up", "visit_date": visit},
            headers=self.headers[RIVERSIDE_VET],
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def amend(self, record_id: str, diagnosis: str, if_match: str) -> Response:
        return await self.client.patch(
            f"{API}/medical-records/{record_id}",
            json={"diagnosis": diagnosis},
            headers={**self.headers[RIVERSIDE_VET], "If-Match": if_match},
        )

    async def event_rows(self, record_id: str) -> list[dict[str, Any]]:
        e = medical_record_events
        query = select(e).where(e.c.record_id == UUID(record_id)).order_by(e.c.version)
        async with self.container.engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(pg_server_url: str, template_database: str) -> AsyncIterator[World]:
    async with open_world(
        pg_server_url,
        template_database,
        "concurrency",
        World,
        settings_for=lambda url: {
            "database": DatabaseSettings(url=url, pool_size=30, max_overflow=5, pool_timeout=20)
        },
        rate_limit=RateLimitSettings(enabled=False),
    ) as world:
        await world.seed_demo()
        await world.sign_in(RIVERSIDE_VET, RIVERSIDE_TECH, HILLCREST_VET)
        owner = await world.create_owner(RIVERSIDE_VET, full_name="Race Client")
        pet = await world.create_pet(RIVERSIDE_VET, owner["id"], name="Dash", species="dog")
        world.dog = UUID(pet["id"])
        yield world


# --------------------------------------------------------------------------- no lost updates


async def test_concurrent_amendments_from_one_version_only_one_wins(world: World) -> None:
    record = await world.create()
    rid = record["id"]
    responses = await asyncio.gather(
        *(world.amend(rid, f"diagnosis {i}", '"1"') for i in range(AMENDERS))
    )
    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == [200] + [412] * (AMENDERS - 1), [r.text for r in responses]
    [winner] = [i for i, r in enumerate(responses) if r.status_code == 200]
    assert responses[winner].headers["etag"] == '"2"'
    for response in responses:
        if response.status_code == 412:
            assert response.json()["current_version"] == 2

    rows = await world.event_rows(rid)
    assert [row["version"] for row in rows] == [1, 2]
    assert [row["event_type"] for row in rows] == ["created", "amended"]
    assert rows[1]["snapshot"]["diagnosis"] == f"diagnosis {winner}"
    current = await world.client.get(
        f"{API}/medical-records/{rid}", headers=world.headers[RIVERSIDE_VET]
    )
    assert current.json()["diagnosis"] == f"diagnosis {winner}"
    assert current.json()["version"] == 2


async def test_amenders_that_retry_on_412_all_land(world: World) -> None:
    record = await world.create()
    rid = record["id"]
    url = f"{API}/medical-records/{rid}"
    attempts: list[int] = []

    async def amender(i: int) -> None:
        for attempt in range(1, 4 * AMENDERS):
            current = await world.client.get(url, headers=world.headers[RIVERSIDE_VET])
            assert current.status_code == 200, current.text
            response = await world.amend(rid, f"amender {i}", current.headers["etag"])
            if response.status_code == 200:
                attempts.append(attempt)
                return
            assert response.status_code == 412, response.text
        raise AssertionError(f"amender {i} never landed")

    await asyncio.gather(*(amender(i) for i in range(AMENDERS)))
    assert len(attempts) == AMENDERS
    assert max(attempts) > 1, "no amender ever had to retry: the race was not exercised"

    rows = await world.event_rows(rid)
    assert len(rows) == AMENDERS + 1
    assert [row["version"] for row in rows] == list(range(1, AMENDERS + 2))
    landed = sorted(row["snapshot"]["diagnosis"] for row in rows[1:])
    assert landed == sorted(f"amender {i}" for i in range(AMENDERS))
    assert all(row["changed_fields"] == ["diagnosis"] for row in rows[1:])
    async with world.container.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).where(medical_record_events.c.record_id == UUID(rid))
        )
    assert count == AMENDERS + 1
    current = await world.client.get(url, headers=world.headers[RIVERSIDE_VET])
    assert current.json()["version"] == AMENDERS + 1
    assert current.json()["diagnosis"] == rows[-1]["snapshot"]["diagnosis"]


# --------------------------------------------------------------------------- immutability

TAMPERING = [
    ("medical_record_events", "UPDATE medical_record_events SET reason = 'tampered'"),
    ("medical_record_events", "UPDATE medical_record_events SET snapshot = '{}'::jsonb"),
    ("medical_record_events", "DELETE FROM medical_record_events"),
    ("medical_record_events", "TRUNCATE medical_record_events"),
    ("audit_events", "UPDATE audit_events SET outcome = 'success'"),
    ("audit_events", "DELETE FROM audit_events"),
    ("audit_events", "TRUNCATE audit_events"),
]


@pytest.mark.parametrize(("table", "statement"), TAMPERING, ids=[s for _, s in TAMPERING])
async def test_the_history_cannot_be_rewritten_through_the_apps_connection(
    world: World, table: str, statement: str
) -> None:
    record = await world.create()  # at least one event and one audit row exist
    amended = await world.amend(record["id"], "Before tampering", '"1"')
    assert amended.status_code == 200
    target = {"medical_record_events": medical_record_events, "audit_events": audit_events}[table]

    async def rows() -> list[dict[str, Any]]:
        async with world.container.engine.connect() as conn:
            query = select(target).order_by(*target.primary_key.columns)
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    before = await rows()
    assert before
    # The application's role has no such privilege at all...
    with pytest.raises(sa_exc.DBAPIError) as refused:
        async with world.container.engine.begin() as conn:
            await conn.execute(text(statement))
    assert getattr(refused.value.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE, refused.value
    assert "permission denied" in str(refused.value.orig)
    # ...and the table's trigger refuses it even to the owner (a superuser here).
    owner = create_async_engine(async_url(world.url), poolclass=NullPool)
    try:
        with pytest.raises(sa_exc.DBAPIError) as refused:
            async with owner.begin() as conn:
                await conn.execute(text(statement))
    finally:
        await owner.dispose()
    assert getattr(refused.value.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE, refused.value
    assert "append-only" in str(refused.value.orig)
    assert await rows() == before


# --------------------------------------------------------------------------- domain events


def principal(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        role=user.role,
        practice_id=user.practice_id,
        session_id=uuid.uuid4(),
        mfa_enabled=False,
        full_name=user.full_name,
    )


async def test_the_unit_of_work_collects_the_records_domain_events(world: World) -> None:
    container = world.container
    opened: list[UnitOfWork] = []

    def capturing_uow() -> UnitOfWork:
        uow = container.uow()
        opened.append(uow)
        return uow  # type: ignore[no-any-return]

    service = MedicalRecordService(
        uow=capturing_uow,
        queries=SqlRecordQueries(container.read_engine, read_retries=0),
        reads=PgRecordReads(
            AuditedReader(container.fast_pool, container.clock, container.ids, container.audit_key),
            finalise_after=timedelta(hours=24),
        ),
        clock=container.clock,
        ids=container.ids,
        finalise_after=timedelta(hours=24),
    )
    vet = principal(world.users[RIVERSIDE_VET])
    meta = RequestMeta(request_id="domain-events-test")

    def collected() -> list[list[DomainEvent]]:
        events = [uow.collected_events() for uow in opened]
        opened.clear()
        return events

    visit = container.clock.now().date() - timedelta(days=1)
    view = await service.create(
        vet,
        world.dog,
        RecordContent(record_type=RecordType.CHECKUP, title="Seen", visit_date=visit),
        meta,
    )
    record_id = view.record.id
    [[created]] = collected()
    assert isinstance(created, MedicalRecordCreated)
    assert (created.record_id, created.pet_id, created.actor_id) == (
        record_id,
        world.dog,
        vet.user_id,
    )

    view, changed = await service.amend(
        vet, record_id, RecordChanges(diagnosis="Healthy"), if_match=1, meta=meta
    )
    assert changed
    [[amended]] = collected()
    assert isinstance(amended, MedicalRecordAmended)
    assert (amended.record_id, amended.version, amended.changed_fields, amended.late) == (
        record_id,
        2,
        ("diagnosis",),
        False,
    )

    # A no-op and a refused amendment raise nothing.
    _, changed = await service.amend(
        vet, record_id, RecordChanges(diagnosis="Healthy"), if_match=2, meta=meta
    )
    assert not changed
    with pytest.raises(PreconditionFailed):
        await service.amend(vet, record_id, RecordChanges(diagnosis="x"), if_match=1, meta=meta)
    assert [events for events in collected() if events] == []

    await service.sign(vet, record_id, if_match=2, meta=meta)
    [[signed]] = collected()
    assert isinstance(signed, MedicalRecordSigned)
    await service.mark_entered_in_error(vet, record_id, reason="Wrong pet", if_match=3, meta=meta)
    [[erroneous]] = collected()
    assert isinstance(erroneous, MedicalRecordEnteredInError)
    assert erroneous.record_id == record_id
    # And the history is what the events say.
    rows = await world.event_rows(str(record_id))
    assert [row["event_type"] for row in rows] == [
        "created",
        "amended",
        "signed",
        "entered_in_error",
    ]
