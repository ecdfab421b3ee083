"""Medical records in PostgreSQL: the append-only events (the truth) and the current-state
projection, written in one transaction; and the read side (lists, history, versions)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from vetchart.adapters.db.audited_reads import AuditedReader, with_chain_head
from vetchart.adapters.db.pg import SqlArgs
from vetchart.adapters.db.queries import ReadQueries, shown_page
from vetchart.adapters.db.rows import EntityRows, columns_of
from vetchart.adapters.db.scope import (
    SCOPE_PARAM,
    owner_in_scope,
    owner_in_scope_bound,
    owner_in_scope_sql,
    record_in_scope,
    scope_kind,
)
from vetchart.adapters.db.seen import PAGE_ORDER, ROW_PRACTICES, audited_page
from vetchart.adapters.db.statements import bound, insert_one, multi_row_insert
from vetchart.adapters.db.tables import (
    medical_record_events,
    medical_records,
    pets,
    record_attachments,
    users,
)
from vetchart.domain.policy import ClientScope
from vetchart.domain.records import (
    CONTENT_FIELDS,
    EventType,
    MedicalRecord,
    PetFacts,
    RecordContent,
    RecordEvent,
    RecordStatus,
    RecordType,
)
from vetchart.services.ports.paging import Page, PageRequest, ReadAudit, Row
from vetchart.services.ports.records import ActorName, Attachment, HistoryEntry, RecordFilters

# The projection's row: the record's content (its own columns) and the record's fields.
_CONTENT = EntityRows(
    RecordContent, CONTENT_FIELDS, enums={"record_type": RecordType}, read={"data": dict}
)
_RECORDS = EntityRows(
    MedicalRecord,
    columns_of(medical_records, without=CONTENT_FIELDS),
    enums={"status": RecordStatus},
)
_EVENTS = EntityRows(
    RecordEvent,
    columns_of(medical_record_events),
    enums={"event_type": EventType},
    read={"changed_fields": tuple, "snapshot": dict},
    write={"changed_fields": list},
)
event_from_row = _EVENTS.entity


def record_from_row(row: Mapping[Any, Any]) -> MedicalRecord:
    return _RECORDS.entity(row, content=_CONTENT.entity(row))


def _projection(record: MedicalRecord) -> dict[str, Any]:
    return {**_CONTENT.values(record.content), **_RECORDS.values(record)}


class SqlMedicalRecordRepository:
    def __init__(self, session: AsyncSession, seen: list[MedicalRecord]) -> None:
        self._session = session
        self._seen = seen  # the unit of work collects their domain events

    async def _write(self, record: MedicalRecord, statement: Any, params: dict[str, Any]) -> None:
        """Run the projection's prebuilt insert or update with the record's new events
        appended by the same statement (a data-modifying CTE); the unit of work then
        collects the record's domain events."""
        events = [_EVENTS.values(e) for e in record.new_events]
        if len(events) == 1:
            appended = insert_one(medical_record_events, tuple(events[0]), "e_")
            statement = _with_events(statement, appended)
            params.update(bound(events[0], "e_"))
        elif events:
            statement = statement.add_cte(
                multi_row_insert(medical_record_events, events).cte("appended_events")
            )
        await self._session.execute(statement, params)
        record.new_events.clear()
        self._seen.append(record)

    async def add(self, record: MedicalRecord) -> None:
        values = _projection(record)
        await self._write(
            record, insert_one(medical_records, tuple(values), "r_"), bound(values, "r_")
        )

    async def get(
        self, record_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> MedicalRecord | None:
        query = select(medical_records).where(
            medical_records.c.id == record_id, record_in_scope(scope)
        )
        if for_update:
            query = query.with_for_update(of=medical_records)
        row = (await self._session.execute(query)).mappings().first()
        return record_from_row(row) if row else None

    async def get_with_pet(
        self, record_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> tuple[MedicalRecord, PetFacts] | None:
        kind, scope_id = scope_kind(scope)
        params = {"wanted_record": record_id, SCOPE_PARAM: scope_id}
        result = await self._session.execute(_record_with_pet(kind, for_update), params)
        row = result.mappings().first()
        if row is None:
            return None
        pet = PetFacts(
            row["pet_id"], row["pet_species"], row["pet_date_of_birth"], row["pet_is_active"]
        )
        return record_from_row(row), pet

    async def any_for_pet(self, pet_id: UUID) -> bool:
        found = await self._session.scalar(
            select(medical_records.c.id).where(medical_records.c.pet_id == pet_id).limit(1)
        )
        return found is not None

    async def save(self, record: MedicalRecord) -> None:
        values = _projection(record)
        for key in ("id", "pet_id", "practice_id", "author_id", "created_at"):
            values.pop(key)
        params = bound(values, "r_")
        params["record_key"] = record.id
        await self._write(record, _update_projection(tuple(values)), params)


@lru_cache(maxsize=8)
def _record_with_pet(kind: str, for_update: bool) -> Any:
    """A record with what the rules need of its pet, in a scope of ``kind`` (its id the
    parameter ``scope_id``), optionally row-locked: built once per shape."""
    query = (
        select(
            medical_records,
            pets.c.species.label("pet_species"),
            pets.c.date_of_birth.label("pet_date_of_birth"),
            pets.c.is_active.label("pet_is_active"),
        )
        .join_from(medical_records, pets, pets.c.id == medical_records.c.pet_id)
        .where(
            medical_records.c.id == bindparam("wanted_record"),
            owner_in_scope_bound(kind, pets.c.owner_id),
        )
    )
    return query.with_for_update(of=medical_records) if for_update else query


@lru_cache(maxsize=8)
def _update_projection(columns: tuple[str, ...]) -> Any:
    return (
        update(medical_records)
        .where(medical_records.c.id == bindparam("record_key"))
        .values({name: bindparam("r_" + name) for name in columns})
    )


@lru_cache(maxsize=16)
def _with_events(statement: Any, appended: Any) -> Any:
    """The projection's statement with one appended event, built once per shape."""
    return statement.add_cte(appended.cte("appended_events"))


class SqlRecordQueries(ReadQueries):
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
        order = (medical_records.c.follow_up_date, medical_records.c.id)
        query = follow_ups_due(practice_id, due_before)
        return await self._page(query, page, order, record_from_row)

    async def pet_records(self, pet_id: UUID) -> list[MedicalRecord]:
        query = (
            select(medical_records)
            .where(
                medical_records.c.pet_id == pet_id,
                medical_records.c.status != RecordStatus.ENTERED_IN_ERROR.value,
            )
            .order_by(medical_records.c.visit_date.desc(), medical_records.c.id.desc())
        )
        return [record_from_row(row) for row in await self._rows(query)]

    async def pet_attachments(self, pet_id: UUID) -> list[Attachment]:
        a, r = record_attachments, medical_records
        query = (
            select(a)
            .join(r, r.c.id == a.c.record_id)
            .where(r.c.pet_id == pet_id, r.c.status != RecordStatus.ENTERED_IN_ERROR.value)
            .order_by(a.c.created_at, a.c.id)
        )
        return [Attachment(**{c.name: row[c.name] for c in a.c}) for row in await self._rows(query)]


def follow_ups_due(practice_id: UUID, due_before: date) -> Select[Any]:
    """The practice's active records with a follow-up due by ``due_before``, of clients it
    may still see (an approved association: a former client's records stay out)."""
    r = medical_records
    return (
        select(r)
        .join(pets, pets.c.id == r.c.pet_id)
        .where(
            owner_in_scope(ClientScope(practice_id=practice_id), pets.c.owner_id),
            r.c.practice_id == practice_id,
            r.c.follow_up_required,
            r.c.status == RecordStatus.ACTIVE.value,
            r.c.follow_up_date <= due_before,
        )
    )


# ---------------------------------------------------------------------- the fast path

# A record as the API answers it. Numbers come as their decimal text and ``data`` as its
# JSON text (presented as is); ``finalised_at`` is computed as the domain does
# (MedicalRecord.finalised_at): the signature, or the automatic finalisation if earlier,
# once it has come ($3 is now, $4 the automatic period).
_FINALISED = "LEAST(r.signed_at, r.created_at + $4::interval)"
RECORD_COLUMNS = (
    "r.id, r.pet_id, r.practice_id, r.author_id, r.record_type, r.title, r.description, "
    "r.visit_date, r.diagnosis, r.treatment, r.medications, "
    "r.weight_kg::text AS weight_kg, r.temperature_c::text AS temperature_c, "
    "r.cost::text AS cost, r.follow_up_required, r.follow_up_date, r.data::text AS data, "
    "r.status, r.version, r.created_at, r.updated_at, "
    f"CASE WHEN {_FINALISED} <= $3 THEN {_FINALISED} END AS finalised_at, "
    "r.signed_at, r.signed_by, r.entered_in_error_reason"
)


def _filters_sql(filters: RecordFilters, after: tuple[object, ...] | None, args: SqlArgs) -> str:
    """The list's optional conditions (" AND ..."), their values added to ``args``."""
    conditions: list[str] = []
    if not filters.include_entered_in_error:
        conditions.append(f"r.status = '{RecordStatus.ACTIVE.value}'")
    conditions += args.conditions(
        ("r.record_type =", filters.record_type),
        ("r.visit_date >=", filters.visit_from),
        ("r.visit_date <=", filters.visit_to),
    )
    conditions += args.after("r.visit_date, r.id", after, "<")
    return "".join(f" AND {c}" for c in conditions)


class PgRecordReads:
    """Records on the fast path: each read one short audited transaction (two statements:
    scope check + chain head lock + data, then the audit row)."""

    def __init__(self, reader: AuditedReader, *, finalise_after: timedelta) -> None:
        self._reader = reader
        self._finalise_after = finalise_after

    async def pet_records(
        self,
        scope: ClientScope,
        pet_id: UUID,
        filters: RecordFilters,
        page: PageRequest,
        now: datetime,
        audit: ReadAudit,
    ) -> Page[Row] | None:
        """A page of the pet's records, newest visit first; None when the pet is not in
        the scope. An empty page is one row of NULLs (the pet exists); the first row
        carries the ids shown and their practices (adapters/db/seen.py)."""
        # $1 is the audit chain (with_chain_head); $2 to $5 are fixed in the text below.
        args = SqlArgs(pet_id, now, self._finalise_after, page.limit + 1, offset=1)
        in_scope = owner_in_scope_sql(scope, "p.owner_id", args)
        conditions = _filters_sql(filters, page.after, args)
        listed = audited_page(
            f"SELECT {RECORD_COLUMNS} FROM medical_records r WHERE r.pet_id = $2{conditions} "
            "ORDER BY r.visit_date DESC, r.id DESC LIMIT $5",
            "$5",
            practices=ROW_PRACTICES,
        )
        sql = with_chain_head(
            f"SELECT r.* FROM pets p CROSS JOIN LATERAL ({listed}) AS r "
            f"WHERE p.id = $2 AND {in_scope}",
            order_by=PAGE_ORDER,
        )
        rows = await self._reader.read(sql, tuple(args.values), audit)
        if rows is None:
            return None
        return shown_page(rows, page, lambda r: (r["visit_date"], r["id"]))

    async def record(
        self, scope: ClientScope, record_id: UUID, now: datetime, audit: ReadAudit
    ) -> Row | None:
        """The record's current version in the scope, or None."""
        return await self._reader.owned_one(
            f"SELECT {RECORD_COLUMNS} FROM medical_records r JOIN pets p ON p.id = r.pet_id",
            row_id="r.id",
            owner_id="p.owner_id",
            scope=scope,
            args=SqlArgs(record_id, now, self._finalise_after, offset=1),  # $2 to $4
            audit=audit,
        )

    async def history(
        self, scope: ClientScope, record_id: UUID, page: PageRequest, audit: ReadAudit
    ) -> Page[Row] | None:
        """A page of the record's versions, oldest first, each with its actor; None when
        the record is not in the scope. Every row carries the record's ``record_id``,
        ``record_practice_id`` and ``record_pet_id`` (for the audit row); a page past the
        last version is one row of NULL event columns."""
        args = SqlArgs(record_id, page.limit + 1, offset=1)  # $2, $3
        in_scope = owner_in_scope_sql(scope, "p.owner_id", args)
        after = "" if page.after is None else f" AND e.version > {args.add(page.after[0])}"
        sql = with_chain_head(
            "SELECT e.version, e.event_type, e.recorded_at, e.actor_id, "
            "u.full_name AS actor_name, u.role AS actor_role, e.reason, "
            "e.changed_fields::text AS changed_fields, e.late, e.snapshot::text AS snapshot, "
            "r.id AS record_id, r.practice_id AS record_practice_id, r.pet_id AS record_pet_id "
            "FROM medical_records r JOIN pets p ON p.id = r.pet_id "
            "LEFT JOIN LATERAL (SELECT * FROM medical_record_events e "
            f"WHERE e.record_id = r.id{after} ORDER BY e.version LIMIT $3) AS e ON true "
            "LEFT JOIN users u ON u.id = e.actor_id "
            f"WHERE r.id = $2 AND {in_scope} ORDER BY e.version",
            order_by="version",
        )
        rows = await self._reader.read(sql, tuple(args.values), audit)
        if rows is None:
            return None
        return shown_page(rows, page, lambda r: (r["version"],), present="version")
