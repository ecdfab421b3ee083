"""Medical records: every use case, its authorization, rules and transaction.

Routes only translate HTTP. Writes lock the record's projection row, check the version
named by If-Match, apply the aggregate's rules and append the event, in one transaction:
concurrent amendments from the same version never both succeed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID

from vetchart.domain.audit import AuditEntry, RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import NotFound
from vetchart.domain.policy import (
    Action,
    Principal,
    RecordRef,
    client_scope,
    require,
)
from vetchart.domain.records import (
    MedicalRecord,
    PetFacts,
    RecordChanges,
    RecordContent,
    record_from_snapshot,
)
from vetchart.services.audit import (
    page_entry_for,
    read_entry,
    record_item,
    record_item_read,
    record_read,
)
from vetchart.services.base import SubjectService, found, practice_for
from vetchart.services.pets import require_version
from vetchart.services.ports.paging import Page, PageRequest, ReadAudit, Row
from vetchart.services.ports.records import HistoryEntry, RecordFilters, RecordQueries, RecordReads
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class RecordView:
    record: MedicalRecord
    finalised_at: datetime | None  # None while the record can still be tidied freely


class MedicalRecordService(SubjectService[RecordQueries, RecordReads]):
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        queries: RecordQueries,
        reads: RecordReads,
        clock: Clock,
        ids: IdGenerator,
        finalise_after: timedelta,
    ) -> None:
        super().__init__(uow=uow, queries=queries, reads=reads, clock=clock, ids=ids)
        self._finalise_after = finalise_after

    def view(self, record: MedicalRecord, now: datetime | None = None) -> RecordView:
        moment = now or self._clock.now()
        finalised = record.finalised_at(self._finalise_after)
        return RecordView(record, finalised if moment >= finalised else None)

    # ------------------------------------------------------------------ writes

    async def create(
        self, actor: Principal, pet_id: UUID, content: RecordContent, meta: RequestMeta
    ) -> RecordView:
        require(actor, Action.MEDICAL_RECORD_CREATE)
        assert actor.practice_id is not None  # staff only (policy)
        async with self._uow() as uow:
            pet = await self._pet(uow, actor, pet_id)
            record = MedicalRecord.create(
                record_id=self._ids.new_id(),
                pet=pet,
                practice_id=actor.practice_id,
                author_id=actor.user_id,
                content=content,
                now=self._clock.now(),
            )
            return await self._save(
                uow, meta, actor, AuditAction.MEDICAL_RECORD_CREATE, record, new=True
            )

    async def amend(
        self,
        actor: Principal,
        record_id: UUID,
        changes: RecordChanges,
        *,
        if_match: int | None,
        meta: RequestMeta,
    ) -> tuple[RecordView, bool]:
        """A new version with the changed fields; (view, False) when nothing changed."""
        async with self._uow() as uow:
            record, pet = await self._for_change(uow, actor, record_id, if_match)
            changed = record.amend(
                changes=changes,
                pet=pet,
                actor_id=actor.user_id,
                now=self._clock.now(),
                auto_finalise_after=self._finalise_after,
            )
            if not changed:
                return self.view(record), False
            changed_fields = record.new_events[-1].changed_fields  # what really changed
            view = await self._save(
                uow,
                meta,
                actor,
                AuditAction.MEDICAL_RECORD_AMEND,
                record,
                {"fields": sorted(changed_fields)},
            )
        return view, True

    async def sign(
        self, actor: Principal, record_id: UUID, *, if_match: int | None, meta: RequestMeta
    ) -> RecordView:
        async with self._uow() as uow:
            record = await visible_record(uow, actor, record_id, for_update=True)
            require(actor, Action.MEDICAL_RECORD_SIGN, RecordRef.of(record))
            require_version(if_match, record.version, "record")
            record.sign(actor_id=actor.user_id, now=self._clock.now())
            return await self._save(uow, meta, actor, AuditAction.MEDICAL_RECORD_SIGN, record)

    async def mark_entered_in_error(
        self,
        actor: Principal,
        record_id: UUID,
        *,
        reason: str,
        if_match: int | None,
        meta: RequestMeta,
    ) -> RecordView:
        async with self._uow() as uow:
            record, _ = await self._for_change(uow, actor, record_id, if_match)
            record.mark_entered_in_error(
                actor_id=actor.user_id, reason=reason, now=self._clock.now()
            )
            return await self._save(
                uow, meta, actor, AuditAction.MEDICAL_RECORD_ENTERED_IN_ERROR, record
            )

    # ------------------------------------------------------------------ reads

    async def get(
        self,
        actor: Principal,
        record_id: UUID,
        meta: RequestMeta,
        *,
        as_of: datetime | None = None,
    ) -> RecordView:
        details: dict[str, object] = {} if as_of is None else {"as_of": as_of.isoformat()}
        record = await self._read(actor, record_id, meta, details)
        if as_of is None:
            return self.view(record)
        event = await self._queries.as_of(record_id, as_of)
        if event is None:
            raise NotFound("The record did not exist at that time.")
        return self.view(record_from_snapshot(event.snapshot), now=as_of)

    async def history(
        self, actor: Principal, record_id: UUID, page: PageRequest, meta: RequestMeta
    ) -> Page[Row]:
        """A page of the record's versions, oldest first; its ``medical_record.read`` audit
        row (``view: history``) committed first."""
        require(actor, Action.MEDICAL_RECORD_READ)

        entry_for = _record_read(actor, "record_", {"view": "history"})
        return found(
            await self._reads.history(
                client_scope(actor), record_id, page, ReadAudit(entry_for, meta)
            ),
            "Medical record",
        )

    async def version(
        self, actor: Principal, record_id: UUID, version: int, meta: RequestMeta
    ) -> HistoryEntry:
        await self._read(actor, record_id, meta, {"view": "version", "version": version})
        entry = await self._queries.version(record_id, version)
        if entry is None:
            raise NotFound(f"The record has no version {version}.")
        return entry

    async def get_current(self, actor: Principal, record_id: UUID, meta: RequestMeta) -> Row:
        """The current version as a read-side row, its ``medical_record.read`` audit row
        committed first (the fast path of ``GET /medical-records/{id}``)."""
        require(actor, Action.MEDICAL_RECORD_READ)

        entry_for = _record_read(actor, "")
        return found(
            await self._reads.record(
                client_scope(actor), record_id, self._clock.now(), ReadAudit(entry_for, meta)
            ),
            "Medical record",
        )

    async def list_for_pet(
        self,
        actor: Principal,
        pet_id: UUID,
        filters: RecordFilters,
        page: PageRequest,
        meta: RequestMeta,
    ) -> Page[Row]:
        """A list read is one audit row naming the pet and the records shown (an empty
        page too), committed before the rows leave (a failed audit write means no medical
        data leaves); 404 outside the scope."""
        require(actor, Action.MEDICAL_RECORD_READ)

        entry_for = page_entry_for(actor, AuditAction.MEDICAL_RECORD_LIST, pet_id, pet_id=pet_id)
        audited = ReadAudit(entry_for, meta)
        return found(
            await self._reads.pet_records(
                client_scope(actor), pet_id, filters, page, self._clock.now(), audited
            ),
            "Pet",
        )

    async def follow_ups(
        self,
        actor: Principal,
        practice_id: UUID,
        due_before: date,
        page: PageRequest,
        meta: RequestMeta,
    ) -> Page[MedicalRecord]:
        # As for the practice's other lists (staff, associations): a missing practice, or
        # a deactivated one for anyone but a SYSTEM_ADMIN, does not exist (404); an
        # existing one is public, so another practice's caller is refused (403).
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.FOLLOW_UPS_LIST, practice_id)
            record_read(
                uow,
                meta,
                actor,
                AuditAction.FOLLOW_UP_LIST,
                practice_id,
                {"view": "follow_ups", "due_before": due_before.isoformat()},
                data_practice_id=practice_id,
            )
            await uow.commit()
        return await self._queries.follow_ups_page(practice_id, due_before, page)

    async def _read(
        self, actor: Principal, record_id: UUID, meta: RequestMeta, details: dict[str, object]
    ) -> MedicalRecord:
        """The record if the actor may read it, with its ``medical_record.read`` audit row
        committed first."""
        require(actor, Action.MEDICAL_RECORD_READ)
        async with self._uow() as uow:
            record = await visible_record(uow, actor, record_id)
            record_item_read(uow, meta, actor, AuditAction.MEDICAL_RECORD_READ, record, details)
            await uow.commit()
        return record

    # ------------------------------------------------------------------ helpers

    async def _save(
        self,
        uow: UnitOfWork,
        meta: RequestMeta,
        actor: Principal,
        action: AuditAction,
        record: MedicalRecord,
        details: Mapping[str, object] | None = None,
        *,
        new: bool = False,
    ) -> RecordView:
        """Store the record's new version in one commit with its audit row: filed under the
        record's practice and pet, naming the version it made (and ``details``). ``new``:
        the record does not exist yet, its first version is added rather than saved."""
        if new:
            await uow.records.add(record)
        else:
            await uow.records.save(record)
        written = {"version": record.version, **(details or {})}
        record_item(uow, meta, actor, action, record, written)
        await uow.commit()
        return self.view(record)

    async def _pet(
        self, uow: UnitOfWork, actor: Principal, pet_id: UUID, *, for_write: bool = True
    ) -> PetFacts:
        pet = await uow.pets.get(pet_id, client_scope(actor))
        if pet is None:
            raise NotFound("Pet not found.")
        return PetFacts(pet.id, pet.species, pet.date_of_birth, pet.is_active or not for_write)

    async def _for_change(
        self, uow: UnitOfWork, actor: Principal, record_id: UUID, if_match: int | None
    ) -> tuple[MedicalRecord, PetFacts]:
        """The record, row-locked, and its pet (one statement), after the permission and
        version checks."""
        found = await uow.records.get_with_pet(record_id, client_scope(actor), for_update=True)
        if found is None:
            raise NotFound("Medical record not found.")
        record, pet = found
        require(actor, Action.MEDICAL_RECORD_AMEND, RecordRef.of(record))
        require_version(if_match, record.version, "record")
        return record, pet


async def visible_record(
    uow: UnitOfWork, actor: Principal, record_id: UUID, *, for_update: bool = False
) -> MedicalRecord:
    """The record in the actor's client scope; out of it, it does not exist (404)."""
    record = await uow.records.get(record_id, client_scope(actor), for_update=for_update)
    return found(record, "Medical record")


def _record_read(
    actor: Principal, prefix: str, details: dict[str, object] | None = None
) -> Callable[[Row], AuditEntry]:
    """The ``entry_for`` of a fast read of one record: its ``medical_record.read`` row,
    from the read row's ``{prefix}id``, ``{prefix}practice_id`` and ``{prefix}pet_id``."""

    def entry_for(row: Row) -> AuditEntry:
        return read_entry(
            actor,
            AuditAction.MEDICAL_RECORD_READ,
            row[f"{prefix}id"],
            details,
            data_practice_id=row[f"{prefix}practice_id"],
            pet_id=row[f"{prefix}pet_id"],
        )

    return entry_for
