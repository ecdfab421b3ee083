"""Medical records in PostgreSQL: the append-only events (the truth) and the current-state
projection, written in one transaction; and the read side (lists, history, versions)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, insert, select, tuple_, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from vetchart.adapters.db.queries import ReadQueries, page_of
from vetchart.adapters.db.scope import owner_in_scope
from vetchart.adapters.db.tables import medical_record_events, medical_records, pets, users
from vetchart.domain.policy import ClientScope
from vetchart.domain.records import (
    CONTENT_FIELDS,
    EventType,
    MedicalRecord,
    RecordContent,
    RecordEvent,
    RecordStatus,
    RecordType,
)
from vetchart.services.ports import (
    ActorName,
    HistoryEntry,
    Page,
    PageRequest,
    RecordFilters,
)


def record_from_row(row: Mapping[Any, Any]) -> MedicalRecord:
    content = RecordContent(
        record_type=RecordType(row["record_type"]),
        title=row["title"],
        visit_date=row["visit_date"],
        description=row["description"],
        diagnosis=row["diagnosis"],
        treatment=row["treatment"],
        medications=row["medications"],
        weight_kg=row["weight_kg"],
        temperature_c=row["temperature_c"],
        cost=row["cost"],
        follow_up_required=row["follow_up_required"],
        follow_up_date=row["follow_up_date"],
        data=dict(row["data"] or {}),
    )
    return MedicalRecord(
        id=row["id"],
        pet_id=row["pet_id"],
        practice_id=row["practice_id"],
        author_id=row["author_id"],
        content=content,
        version=row["version"],
        status=RecordStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        signed_at=row["signed_at"],
        signed_by=row["signed_by"],
        entered_in_error_reason=row["entered_in_error_reason"],
    )


def _projection(record: MedicalRecord) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(record.content, name) for name in CONTENT_FIELDS}
    values["record_type"] = record.content.record_type.value
    values.update(
        id=record.id,
        pet_id=record.pet_id,
        practice_id=record.practice_id,
        author_id=record.author_id,
        version=record.version,
        status=record.status.value,
        created_at=record.created_at,
        updated_at=record.updated_at,
        signed_at=record.signed_at,
        signed_by=record.signed_by,
        entered_in_error_reason=record.entered_in_error_reason,
    )
    return values


def _event_values(event: RecordEvent) -> dict[str, Any]:
    return {
        "record_id": event.record_id,
        "version": event.version,
        "event_type": event.event_type.value,
        "changed_fields": list(event.changed_fields),
        "snapshot": event.snapshot,
        "actor_id": event.actor_id,
        "practice_id": event.practice_id,
        "reason": event.reason,
        "late": event.late,
        "recorded_at": event.recorded_at,
    }


def event_from_row(row: Mapping[Any, Any]) -> RecordEvent:
    return RecordEvent(
        record_id=row["record_id"],
        version=row["version"],
        event_type=EventType(row["event_type"]),
        changed_fields=tuple(row["changed_fields"]),
        snapshot=dict(row["snapshot"]),
        actor_id=row["actor_id"],
        practice_id=row["practice_id"],
        reason=row["reason"],
        late=row["late"],
        recorded_at=row["recorded_at"],
    )


def _in_scope(scope: ClientScope) -> Any:
    """Records whose pet's owner is in the scope (the one client-scope rule)."""
    return medical_records.c.pet_id.in_(
        select(pets.c.id).where(owner_in_scope(scope, pets.c.owner_id))
    )


class SqlMedicalRecordRepository:
    def __init__(self, session: AsyncSession, seen: list[MedicalRecord]) -> None:
        self._session = session
        self._seen = seen  # the unit of work collects their domain events

    async def _append_events(self, record: MedicalRecord) -> None:
        if record.new_events:
            await self._session.execute(
                insert(medical_record_events), [_event_values(e) for e in record.new_events]
            )
            record.new_events.clear()
        self._seen.append(record)

    async def add(self, record: MedicalRecord) -> None:
        await self._session.execute(insert(medical_records).values(**_projection(record)))
        await self._append_events(record)

    async def get(
        self, record_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> MedicalRecord | None:
        query = select(medical_records).where(medical_records.c.id == record_id, _in_scope(scope))
        if for_update:
            query = query.with_for_update(of=medical_records)
        row = (await self._session.execute(query)).mappings().first()
        return record_from_row(row) if row else None

    async def any_for_pet(self, pet_id: UUID) -> bool:
        found = await self._session.scalar(
            select(medical_records.c.id).where(medical_records.c.pet_id == pet_id).limit(1)
        )
        return found is not None

    async def save(self, record: MedicalRecord) -> None:
        values = _projection(record)
        for key in ("id", "pet_id", "practice_id", "author_id", "created_at"):
            values.pop(key)
        await self._session.execute(
            update(medical_records).where(medical_records.c.id == record.id).values(**values)
        )
        await self._append_events(record)


class SqlRecordQueries(ReadQueries):
    async def pet_records_page(
        self, pet_id: UUID, filters: RecordFilters, page: PageRequest
    ) -> Page[MedicalRecord]:
        r = medical_records
        query = select(r).where(r.c.pet_id == pet_id)
        if not filters.include_entered_in_error:
            query = query.where(r.c.status == RecordStatus.ACTIVE.value)
        if filters.record_type is not None:
            query = query.where(r.c.record_type == filters.record_type.value)
        if filters.visit_from is not None:
            query = query.where(r.c.visit_date >= filters.visit_from)
        if filters.visit_to is not None:
            query = query.where(r.c.visit_date <= filters.visit_to)
        if page.after is not None:
            query = query.where(tuple_(r.c.visit_date, r.c.id) < tuple_(*page.after))
        query = query.order_by(r.c.visit_date.desc(), r.c.id.desc()).limit(page.limit + 1)
        rows = [record_from_row(row) for row in await self._rows(query)]
        return page_of(rows, page.limit, lambda rec: (rec.content.visit_date, rec.id))

    def _events_with_actor(self) -> Select[Any]:
        e = medical_record_events
        return select(
            e, users.c.full_name.label("actor_name"), users.c.role.label("actor_role")
        ).join_from(e, users, users.c.id == e.c.actor_id)

    @staticmethod
    def _entry(row: RowMapping) -> HistoryEntry:
        return HistoryEntry(
            event=event_from_row(row),
            actor=ActorName(
                id=row["actor_id"], full_name=row["actor_name"], role=row["actor_role"]
            ),
        )

    async def history(self, record_id: UUID) -> list[HistoryEntry]:
        e = medical_record_events
        query = self._events_with_actor().where(e.c.record_id == record_id).order_by(e.c.version)
        return [self._entry(row) for row in await self._rows(query)]

    async def version(self, record_id: UUID, version: int) -> HistoryEntry | None:
        e = medical_record_events
        query = self._events_with_actor().where(e.c.record_id == record_id, e.c.version == version)
        rows = await self._rows(query)
        return self._entry(rows[0]) if rows else None

    async def as_of(self, record_id: UUID, moment: datetime) -> RecordEvent | None:
        e = medical_record_events
        query = (
            select(e)
            .where(e.c.record_id == record_id, e.c.recorded_at <= moment)
            .order_by(e.c.version.desc())
            .limit(1)
        )
        rows = await self._rows(query)
        return event_from_row(rows[0]) if rows else None

    async def follow_ups_page(
        self, practice_id: UUID, due_before: date, page: PageRequest
    ) -> Page[MedicalRecord]:
        r = medical_records
        # Only clients the practice may still see (an approved association).
        query = (
            select(r)
            .join(pets, pets.c.id == r.c.pet_id)
            .where(owner_in_scope(ClientScope(practice_id=practice_id), pets.c.owner_id))
        )
        query = query.where(
            r.c.practice_id == practice_id,
            r.c.follow_up_required,
            r.c.status == RecordStatus.ACTIVE.value,
            r.c.follow_up_date <= due_before,
        )
        if page.after is not None:
            query = query.where(tuple_(r.c.follow_up_date, r.c.id) > tuple_(*page.after))
        query = query.order_by(r.c.follow_up_date, r.c.id).limit(page.limit + 1)
        rows = [record_from_row(row) for row in await self._rows(query)]
        return page_of(rows, page.limit, lambda rec: (rec.content.follow_up_date, rec.id))
