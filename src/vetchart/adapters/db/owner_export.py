"""The export of everything about one owner (``GET /pet-owners/{id}/export``): a fixed
set of statements in one REPEATABLE READ snapshot, whatever the amount of data."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, Table, and_, func, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vetchart.adapters.db.scope import association_visible_to_practice
from vetchart.adapters.db.tables import (
    appointment_pets,
    appointments,
    audit_events,
    medical_record_events,
    medical_records,
    pet_owners,
    pets,
    practice_associations,
    record_attachments,
    visits,
)
from vetchart.services.ports.lifecycle import Item, OwnerExport

# Storage keys are internal names, not data about the person.
_VISIT_COLUMNS = [c for c in visits.c if c.name not in ("audio_key", "audio_pending_key")]
_ATTACHMENT_COLUMNS = [c for c in record_attachments.c if c.name != "object_key"]
# What the access log shows of an audit row (not the other parties' addresses, agents).
_AUDIT_COLUMNS = [
    audit_events.c[name]
    for name in (
        "id",
        "occurred_at",
        "actor_id",
        "actor_role",
        "practice_id",
        "action",
        "resource_type",
        "resource_id",
        "outcome",
    )
]


def _item(row: RowMapping) -> Item:
    return {
        str(key): str(value) if isinstance(value, Decimal) else value for key, value in row.items()
    }


async def _items(conn: AsyncConnection, query: Select[Any]) -> list[Item]:
    return [_item(row) for row in (await conn.execute(query)).mappings()]


def _by_visit_date(
    columns: Iterable[ColumnElement[Any]], table: Table, pet_ids: Any
) -> Select[Any]:
    """The ``columns`` of ``table``'s rows about the pets ``pet_ids``, by visit date then id."""
    return (
        select(*columns).where(table.c.pet_id.in_(pet_ids)).order_by(table.c.visit_date, table.c.id)
    )


class SqlOwnerExport:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def export(
        self, owner_id: UUID, *, practice_id: UUID | None, include_audit: bool
    ) -> OwnerExport | None:
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                return await self._export(conn, owner_id, practice_id, include_audit)

    async def _export(
        self, conn: AsyncConnection, owner_id: UUID, practice_id: UUID | None, audit: bool
    ) -> OwnerExport | None:
        owner_cols = [c for c in pet_owners.c if c.name != "search_text"]
        found = await _items(conn, select(*owner_cols).where(pet_owners.c.id == owner_id))
        if not found:
            return None
        pet_ids = select(pets.c.id).where(pets.c.owner_id == owner_id).scalar_subquery()
        a = practice_associations
        associations = select(a).where(a.c.pet_owner_id == owner_id).order_by(a.c.created_at)
        booked = (
            select(func.array_agg(appointment_pets.c.pet_id).label("pet_ids"))
            .where(appointment_pets.c.appointment_id == appointments.c.id)
            .scalar_subquery()
        )
        appointment_rows = (
            select(appointments, booked.label("pet_ids"))
            .where(appointments.c.pet_owner_id == owner_id)
            .order_by(appointments.c.start_at, appointments.c.id)
        )
        if practice_id is not None:
            associations = associations.where(
                a.c.practice_id == practice_id, association_visible_to_practice()
            )
            appointment_rows = appointment_rows.where(appointments.c.practice_id == practice_id)
        records = medical_records.c
        record_ids = select(records.id).where(records.pet_id.in_(pet_ids)).scalar_subquery()
        events = medical_record_events.c
        export = OwnerExport(
            owner=found[0],
            pets=await _items(
                conn, select(pets).where(pets.c.owner_id == owner_id).order_by(pets.c.id)
            ),
            associations=await _items(conn, associations),
            appointments=await _items(conn, appointment_rows),
            visits=await _items(conn, _by_visit_date(_VISIT_COLUMNS, visits, pet_ids)),
            medical_records=await _items(conn, _by_visit_date(records, medical_records, pet_ids)),
            attachments=await _items(
                conn,
                select(*_ATTACHMENT_COLUMNS)
                .where(record_attachments.c.record_id.in_(record_ids))
                .order_by(record_attachments.c.created_at, record_attachments.c.id),
            ),
        )
        versions = await _items(
            conn,
            select(medical_record_events)
            .where(events.record_id.in_(record_ids))
            .order_by(events.record_id, events.version),
        )
        by_record: dict[Any, list[Item]] = {}
        for version in versions:
            by_record.setdefault(version["record_id"], []).append(version)
        for record in export.medical_records:
            record["versions"] = by_record.get(record["id"], [])
        if audit:
            about = or_(
                and_(
                    audit_events.c.resource_type == "pet_owner",
                    audit_events.c.resource_id == str(owner_id),
                ),
                audit_events.c.pet_id.in_(pet_ids),
            )
            export.audit_events.extend(
                await _items(
                    conn,
                    select(*_AUDIT_COLUMNS)
                    .where(about)
                    .order_by(audit_events.c.occurred_at, audit_events.c.id),
                )
            )
        return export
