"""The audit trail's use cases (services/audit.py) on the in-memory fakes: refusals get
their own transaction, the admins' search is scoped and audited, and the helpers every
service uses build the rows docs/audit.md describes."""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures.fakes import InMemoryDatabase, RecordingAuditQueries
from vetchart.domain.audit import Outcome, RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import Forbidden
from vetchart.domain.policy import Principal
from vetchart.domain.users import Role
from vetchart.services.audit import AuditService, read_entry, record
from vetchart.services.ports.audit import AuditFilters
from vetchart.services.ports.paging import PageRequest

META = RequestMeta(request_id="req-1", client_address="198.51.100.7", user_agent="tests")
PRACTICE = uuid.uuid4()


def actor(role: Role, practice_id: uuid.UUID | None = PRACTICE) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        role=role,
        practice_id=practice_id,
        session_id=uuid.uuid4(),
        mfa_enabled=False,
    )


def service() -> tuple[AuditService, InMemoryDatabase, RecordingAuditQueries]:
    db, queries = InMemoryDatabase(), RecordingAuditQueries()
    return AuditService(uow=db.uow, queries=queries), db, queries


async def test_a_refusal_is_recorded_in_its_own_transaction() -> None:
    audit, db, _ = service()
    vet = actor(Role.VET)
    await audit.denied(vet, META, AuditAction.PET_UPDATE, "42", {"reason": "scope"})
    [row] = db.audit
    assert row.meta == META
    assert row.entry.outcome is Outcome.DENIED
    assert (row.entry.action, row.entry.resource_type, row.entry.resource_id) == (
        "pet.update",
        "pet",
        "42",
    )
    assert (row.entry.actor_id, row.entry.actor_role, row.entry.practice_id) == (
        vet.user_id,
        "VET",
        PRACTICE,
    )
    assert row.entry.details == {"reason": "scope"}


async def test_a_practice_admin_searches_their_own_practice_only() -> None:
    audit, db, queries = service()
    admin = actor(Role.PRACTICE_ADMIN)
    asked = AuditFilters(practice_id=uuid.uuid4(), action="pet.read")
    await audit.search(admin, asked, PageRequest(limit=10), META)
    [sent] = queries.searches
    assert sent.practice_id == PRACTICE  # whatever was asked
    assert sent.action == "pet.read"
    [row] = db.audit
    assert (row.entry.action, row.entry.resource_type, row.entry.resource_id) == (
        "audit.read",
        "audit_event",
        "search",
    )
    assert row.entry.practice_id == PRACTICE
    assert row.entry.details == {"practice_id": str(asked.practice_id), "action": "pet.read"}


async def test_a_system_admin_searches_every_practice() -> None:
    audit, db, queries = service()
    await audit.search(actor(Role.SYSTEM_ADMIN, None), AuditFilters(), PageRequest(10), META)
    assert queries.searches == [AuditFilters(practice_id=None)]
    assert db.audit[0].entry.practice_id is None
    assert db.audit[0].entry.details == {}


@pytest.mark.parametrize("role", [Role.VET, Role.VET_STAFF, Role.PET_OWNER])
async def test_others_may_not_search_and_leave_no_row(role: Role) -> None:
    audit, db, queries = service()
    practice = None if role is Role.PET_OWNER else PRACTICE
    with pytest.raises(Forbidden):
        await audit.search(actor(role, practice), AuditFilters(), PageRequest(10), META)
    assert queries.searches == []
    assert db.audit == []


async def test_record_queues_with_the_unit_and_a_rollback_drops_it() -> None:
    db = InMemoryDatabase()
    vet = actor(Role.VET)
    pet = uuid.uuid4()
    async with db.uow() as uow:
        record(uow, META, vet, AuditAction.PET_UPDATE, pet, PRACTICE, {"fields": ["name"]})
    assert db.audit == []  # never committed
    async with db.uow() as uow:
        record(uow, META, vet, AuditAction.PET_UPDATE, pet, PRACTICE, pet_id=pet)
        await uow.commit()
    [row] = db.audit
    assert (row.entry.resource_id, row.entry.pet_id, row.entry.outcome) == (
        str(pet),
        pet,
        Outcome.SUCCESS,
    )


def test_a_read_is_in_the_readers_practice_with_the_datas_practices_in_details() -> None:
    other = uuid.uuid4()
    staff_read = read_entry(actor(Role.VET), AuditAction.PET_READ, "7", data_practice_id=other)
    assert staff_read.practice_id == PRACTICE
    assert staff_read.details == {"data_practice_id": str(other)}
    owner_read = read_entry(
        actor(Role.PET_OWNER, None), AuditAction.PET_LIST, None, data_practice_ids=[other, PRACTICE]
    )
    assert owner_read.practice_id is None
    assert owner_read.resource_id is None
    assert owner_read.details == {"data_practice_ids": sorted([str(other), str(PRACTICE)])}
