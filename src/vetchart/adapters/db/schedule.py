"""Appointments, visits and attachments: repositories (write side) and read-side queries
(lists, the daily dashboard and the pet's timeline, each in a constant number of
statements)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Date,
    Uuid,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from vetchart.adapters.db.audited_reads import AuditedReader, with_chain_head
from vetchart.adapters.db.constraints import SLOT_CONSTRAINT, constraint_name, violation
from vetchart.adapters.db.pg import PgPool, Rows, SqlArgs
from vetchart.adapters.db.queries import ReadQueries, page_of, shown_page
from vetchart.adapters.db.records import follow_ups_due, record_from_row
from vetchart.adapters.db.rows import EntityRows, columns_of
from vetchart.adapters.db.scope import (
    appointment_in_scope,
    appointment_in_scope_sql,
    owner_in_scope,
    owner_in_scope_sql,
)
from vetchart.adapters.db.seen import PAGE_ORDER, ROW_PRACTICES, audited_page
from vetchart.adapters.db.tables import (
    appointment_pets,
    appointments,
    kb_documents,
    medical_records,
    pet_owners,
    pets,
    practices,
    record_attachments,
    visits,
)
from vetchart.domain.appointments import (
    FREEING,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    StoredFile,
    Visit,
    VisitState,
)
from vetchart.domain.audit import AuditEntry, RequestMeta
from vetchart.domain.policy import ClientScope, PracticeFacts
from vetchart.domain.transcription import (
    TranscriptionStatus,
)
from vetchart.services.ports.paging import Page, PageRequest, ReadAudit, Row
from vetchart.services.ports.records import Attachment
from vetchart.services.ports.schedule import (
    AppointmentFilters,
    AppointmentView,
    DashboardQuery,
    DashboardView,
    PetBrief,
    TimelineEntry,
)

_FREEING = [status.value for status in FREEING]


# --------------------------------------------------------------------------- appointments


# end_at is stored (for the no-double-booking constraint) and derived by the domain.
_APPOINTMENTS = EntityRows(
    Appointment,
    columns_of(appointments, without=["end_at"]),
    enums={"appointment_type": AppointmentType, "status": AppointmentStatus},
)


def _appointment_values(appointment: Appointment) -> dict[str, Any]:
    return _APPOINTMENTS.values(appointment, end_at=appointment.end_at)


def appointment_from_row(row: Mapping[Any, Any], pet_ids: tuple[UUID, ...]) -> Appointment:
    return _APPOINTMENTS.entity(row, pet_ids=pet_ids)


_PET_IDS = (
    select(func.array_agg(appointment_pets.c.pet_id, type_=ARRAY(Uuid)))
    .where(appointment_pets.c.appointment_id == appointments.c.id)
    .scalar_subquery()
)


class SqlAppointmentRepository:
    def __init__(self, session: AsyncSession, seen: list[Appointment]) -> None:
        self._session = session
        self._seen = seen

    async def _guard_slot(self, appointment: Appointment, statement: Any) -> None:
        """Run a write in a savepoint; the exclusion constraint's refusal (its error in
        adapters/db/constraints.py) names the appointment that holds the slot."""
        try:
            async with self._session.begin_nested():
                await self._session.execute(statement)
        except DBAPIError as error:
            if constraint_name(error) != SLOT_CONSTRAINT:
                raise
            clash = await self._session.scalar(
                select(appointments.c.id)
                .where(
                    appointments.c.assigned_vet_id == appointment.assigned_vet_id,
                    appointments.c.id != appointment.id,
                    appointments.c.status.not_in(_FREEING),
                    appointments.c.start_at < appointment.end_at,
                    appointments.c.end_at > appointment.start_at,
                )
                .limit(1)
            )
            conflict = violation(error)
            assert conflict is not None
            conflict.extra["conflicting_appointment_id"] = str(clash) if clash else None
            raise conflict from None

    async def add(self, appointment: Appointment) -> None:
        await self._guard_slot(
            appointment, insert(appointments).values(**_appointment_values(appointment))
        )
        await self._session.execute(
            insert(appointment_pets),
            [{"appointment_id": appointment.id, "pet_id": pet} for pet in appointment.pet_ids],
        )
        self._seen.append(appointment)

    async def get(
        self, appointment_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> Appointment | None:
        query = select(appointments, _PET_IDS.label("pet_ids")).where(
            appointments.c.id == appointment_id, appointment_in_scope(scope)
        )
        if for_update:
            query = query.with_for_update(of=appointments)
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            return None
        appointment = appointment_from_row(row, tuple(sorted(row["pet_ids"] or [])))
        self._seen.append(appointment)
        return appointment

    async def save(self, appointment: Appointment, *, pets_changed: bool = False) -> None:
        values = _appointment_values(appointment)
        for key in ("id", "created_at", "created_by", "practice_id"):
            values.pop(key)
        await self._guard_slot(
            appointment,
            update(appointments).where(appointments.c.id == appointment.id).values(**values),
        )
        if pets_changed:
            await self._session.execute(
                delete(appointment_pets).where(appointment_pets.c.appointment_id == appointment.id)
            )
            await self._session.execute(
                insert(appointment_pets),
                [{"appointment_id": appointment.id, "pet_id": p} for p in appointment.pet_ids],
            )

    async def owner_pets(self, owner_id: UUID, pet_ids: tuple[UUID, ...]) -> set[UUID]:
        """Which of ``pet_ids`` belong to the owner (and are active)."""
        rows = await self._session.execute(
            select(pets.c.id).where(
                pets.c.owner_id == owner_id, pets.c.id.in_(pet_ids), pets.c.is_active
            )
        )
        return {row.id for row in rows}


# --------------------------------------------------------------------------- visits


# A visit's audio file is stored in the audio_* columns (all NULL without audio).
_AUDIO_FIELDS = ("key", "content_type", "size_bytes", "sha256", "file_name")
_VISITS = EntityRows(
    Visit,
    columns_of(visits, without=[f"audio_{field}" for field in _AUDIO_FIELDS]),
    enums={"state": VisitState, "transcription_status": TranscriptionStatus},
)


def _visit_values(visit: Visit) -> dict[str, Any]:
    audio = visit.audio
    return _VISITS.values(
        visit,
        **{f"audio_{field}": getattr(audio, field) if audio else None for field in _AUDIO_FIELDS},
    )


def visit_from_row(row: Mapping[Any, Any]) -> Visit:
    audio = (
        StoredFile(**{field: row[f"audio_{field}"] for field in _AUDIO_FIELDS})
        if row["audio_key"]
        else None
    )
    return _VISITS.entity(row, audio=audio)


class SqlVisitRepository:
    def __init__(self, session: AsyncSession, seen: list[Visit]) -> None:
        self._session = session
        self._seen = seen

    async def add(self, visit: Visit) -> None:
        await self._session.execute(insert(visits).values(**_visit_values(visit)))
        self._seen.append(visit)

    async def get(
        self, visit_id: UUID, scope: ClientScope, *, for_update: bool = False
    ) -> Visit | None:
        query = (
            select(visits)
            .join(pets, pets.c.id == visits.c.pet_id)
            .where(visits.c.id == visit_id, owner_in_scope(scope, pets.c.owner_id))
        )
        if for_update:
            query = query.with_for_update(of=visits)
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            return None
        visit = visit_from_row(row)
        self._seen.append(visit)
        return visit

    async def save(self, visit: Visit) -> None:
        values = _visit_values(visit)
        for key in ("id", "created_at", "created_by", "pet_id", "practice_id"):
            values.pop(key)
        await self._session.execute(update(visits).where(visits.c.id == visit.id).values(**values))


# --------------------------------------------------------------------------- attachments


def attachment_from_row(row: Mapping[Any, Any]) -> Attachment:
    return Attachment(**{column.name: row[column.name] for column in record_attachments.c})


class SqlAttachmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, attachment: Attachment) -> None:
        await self._session.execute(insert(record_attachments).values(**vars(attachment)))

    async def get(self, attachment_id: UUID, scope: ClientScope) -> Attachment | None:
        query = (
            select(record_attachments)
            .join(medical_records, medical_records.c.id == record_attachments.c.record_id)
            .join(pets, pets.c.id == medical_records.c.pet_id)
            .where(
                record_attachments.c.id == attachment_id,
                owner_in_scope(scope, pets.c.owner_id),
            )
        )
        row = (await self._session.execute(query)).mappings().first()
        return attachment_from_row(row) if row else None

    async def for_record(self, record_id: UUID) -> list[Attachment]:
        rows = await self._session.execute(
            select(record_attachments)
            .where(record_attachments.c.record_id == record_id)
            .order_by(record_attachments.c.created_at, record_attachments.c.id)
        )
        return [attachment_from_row(row) for row in rows.mappings()]

    async def referenced(self, keys: list[str]) -> set[str]:
        """Which object keys a row still names (the orphan sweep keeps those)."""
        if not keys:
            return set()
        audio = select(visits.c.audio_key.label("key")).where(visits.c.audio_key.in_(keys))
        pending = select(visits.c.audio_pending_key.label("key")).where(
            visits.c.audio_pending_key.in_(keys)
        )
        attached = select(record_attachments.c.object_key.label("key")).where(
            record_attachments.c.object_key.in_(keys)
        )
        documents = select(kb_documents.c.object_key.label("key")).where(
            kb_documents.c.object_key.in_(keys)
        )
        rows = await self._session.execute(union_all(audio, pending, attached, documents))
        return {row.key for row in rows}


# --------------------------------------------------------------------------- read side

_PETS_JSON = (
    select(
        func.coalesce(
            func.jsonb_agg(
                func.jsonb_build_object(
                    "id", pets.c.id, "name", pets.c.name, "species", pets.c.species
                )
            ),
            func.jsonb_build_array(),
            type_=JSONB,
        )
    )
    .select_from(appointment_pets.join(pets, pets.c.id == appointment_pets.c.pet_id))
    .where(appointment_pets.c.appointment_id == appointments.c.id)
    .scalar_subquery()
)


def _appointment_view(row: Mapping[Any, Any]) -> AppointmentView:
    pet_list = sorted(row["pets"] or [], key=lambda p: (p["name"], p["id"]))
    appointment = appointment_from_row(row, tuple(sorted(UUID(p["id"]) for p in pet_list)))
    return AppointmentView(
        appointment=appointment,
        pets=[PetBrief(UUID(p["id"]), p["name"], p["species"]) for p in pet_list],
        owner_name=row["owner_name"],
    )


def _appointments_query() -> Any:
    return select(
        appointments,
        _PETS_JSON.label("pets"),
        pet_owners.c.full_name.label("owner_name"),
    ).join(pet_owners, pet_owners.c.id == appointments.c.pet_owner_id)


class SqlScheduleQueries(ReadQueries):
    async def appointments_page(
        self, filters: AppointmentFilters, page: PageRequest
    ) -> Page[AppointmentView]:
        query = _appointments_query().where(appointment_in_scope(filters.scope))
        if filters.practice_id is not None:
            query = query.where(appointments.c.practice_id == filters.practice_id)
        if filters.owner_id is not None:
            query = query.where(appointments.c.pet_owner_id == filters.owner_id)
        if filters.start_from is not None:
            query = query.where(appointments.c.start_at >= filters.start_from)
        if filters.start_to is not None:
            query = query.where(appointments.c.start_at < filters.start_to)
        if filters.vet_id is not None:
            query = query.where(appointments.c.assigned_vet_id == filters.vet_id)
        if filters.status is not None:
            query = query.where(appointments.c.status == filters.status.value)
        order = (appointments.c.start_at, appointments.c.id)
        return await self._page(query, page, order, _appointment_view)

    async def appointment_view(self, appointment_id: UUID) -> AppointmentView | None:
        rows = await self._rows(_appointments_query().where(appointments.c.id == appointment_id))
        return _appointment_view(rows[0]) if rows else None

    async def visits_page(self, pet_id: UUID, page: PageRequest) -> Page[Visit]:
        query = select(visits).where(visits.c.pet_id == pet_id)
        order = (visits.c.visit_date, visits.c.id)
        return await self._page(query, page, order, visit_from_row, newest_first=True)

    async def appointment_visits_page(self, appointment_id: UUID, page: PageRequest) -> Page[Visit]:
        query = select(visits).where(visits.c.appointment_id == appointment_id)
        order = (visits.c.visit_date, visits.c.id)
        return await self._page(query, page, order, visit_from_row, newest_first=True)

    async def pet_visits(self, pet_id: UUID) -> list[Visit]:
        query = (
            select(visits)
            .where(visits.c.pet_id == pet_id)
            .order_by(visits.c.visit_date.desc(), visits.c.id.desc())
        )
        return [visit_from_row(row) for row in await self._rows(query)]

    async def dashboard(self, query: DashboardQuery) -> DashboardView:
        """Three statements whatever the day holds: the day's appointments with pets and
        owners, follow-ups due, visits awaiting review."""
        day = _appointments_query().where(
            appointments.c.practice_id == query.practice_id,
            appointments.c.start_at >= query.day_start,
            appointments.c.start_at < query.day_end,
        )
        if query.vet_id is not None:
            day = day.where(appointments.c.assigned_vet_id == query.vet_id)
        day = day.order_by(appointments.c.start_at, appointments.c.id).limit(query.limit)
        # Only clients the practice may still see (an approved association), as for the
        # single reads: a former client's records and visits stay out.
        clients = ClientScope(practice_id=query.practice_id)
        due = (
            follow_ups_due(query.practice_id, query.today)
            .order_by(medical_records.c.follow_up_date, medical_records.c.id)
            .limit(query.limit)
        )
        awaiting = (
            select(visits)
            .join(pets, pets.c.id == visits.c.pet_id)
            .where(
                owner_in_scope(clients, pets.c.owner_id),
                visits.c.practice_id == query.practice_id,
                visits.c.state == VisitState.PROCESSED.value,
                # The column is plain JSONB: a visit without a summary holds JSON null
                # (SQLAlchemy's default for None), which IS NOT NULL would let through.
                func.jsonb_typeof(visits.c.summary) == "object",
                visits.c.summary_record_id.is_(None),
            )
            .order_by(visits.c.visit_date, visits.c.id)
            .limit(query.limit)
        )
        return DashboardView(
            appointments=[_appointment_view(row) for row in await self._rows(day)],
            follow_ups=[record_from_row(row) for row in await self._rows(due)],
            visits_awaiting_review=[visit_from_row(row) for row in await self._rows(awaiting)],
        )

    async def timeline_page(
        self, pet_id: UUID, scope: ClientScope, page: PageRequest
    ) -> Page[TimelineEntry]:
        """Records, appointments (those the caller may see) and visits of one pet, newest
        day first, one keyset over (day, id): four statements whatever the page holds."""
        record_items = select(
            literal("medical_record").label("kind"),
            medical_records.c.id,
            medical_records.c.visit_date.label("occurred_on"),
        ).where(
            medical_records.c.pet_id == pet_id,
            medical_records.c.status != "entered_in_error",
        )
        appointment_items = (
            select(
                literal("appointment").label("kind"),
                appointments.c.id,
                _local_day(appointments.c.start_at).label("occurred_on"),
            )
            .select_from(
                appointments.join(
                    appointment_pets, appointment_pets.c.appointment_id == appointments.c.id
                ).join(practices, practices.c.id == appointments.c.practice_id)
            )
            .where(appointment_pets.c.pet_id == pet_id, appointment_in_scope(scope))
        )
        visit_items = (
            select(
                literal("visit").label("kind"),
                visits.c.id,
                _local_day(visits.c.visit_date).label("occurred_on"),
            )
            .select_from(visits.join(practices, practices.c.id == visits.c.practice_id))
            .where(visits.c.pet_id == pet_id)
        )
        merged = union_all(record_items, appointment_items, visit_items).subquery("timeline")
        query = select(merged)
        if page.after is not None:
            query = query.where(tuple_(merged.c.occurred_on, merged.c.id) < tuple_(*page.after))
        query = query.order_by(merged.c.occurred_on.desc(), merged.c.id.desc()).limit(
            page.limit + 1
        )
        keys = await self._rows(query)
        ids = {kind: [row["id"] for row in keys if row["kind"] == kind] for kind in _KINDS}
        records = {
            row["id"]: record_from_row(row)
            for row in await self._rows(
                select(medical_records).where(medical_records.c.id.in_(ids["medical_record"]))
            )
        }
        booked = {
            row["id"]: _appointment_view(row)
            for row in await self._rows(
                _appointments_query().where(appointments.c.id.in_(ids["appointment"]))
            )
        }
        seen = {
            row["id"]: visit_from_row(row)
            for row in await self._rows(select(visits).where(visits.c.id.in_(ids["visit"])))
        }
        entries = [
            TimelineEntry(
                kind=row["kind"],
                id=row["id"],
                occurred_on=row["occurred_on"],
                record=records.get(row["id"]),
                appointment=booked.get(row["id"]),
                visit=seen.get(row["id"]),
            )
            for row in keys
        ]
        return page_of(entries, page.limit, lambda e: (e.occurred_on, e.id))


_KINDS = ("medical_record", "appointment", "visit")


def _local_day(moment: ColumnElement[datetime]) -> ColumnElement[date]:
    """The calendar day of a moment in its practice's timezone."""
    return func.date(func.timezone(practices.c.timezone, moment), type_=Date)


# ---------------------------------------------------------------------- the fast path

# An appointment as the API answers it: the owner's name, the pet ids in id order and the
# pets (JSON text) by name then id, as the read model above orders them.
APPOINTMENT_COLUMNS = (
    "a.id, a.practice_id, a.pet_owner_id, o.full_name AS owner_name, "
    "ARRAY(SELECT ap.pet_id FROM appointment_pets ap WHERE ap.appointment_id = a.id "
    "ORDER BY ap.pet_id) AS pet_ids, "
    "(SELECT coalesce(jsonb_agg(jsonb_build_object('id', p.id, 'name', p.name, "
    "'species', p.species) ORDER BY p.name COLLATE \"C\", p.id::text), '[]'::jsonb)::text "
    "FROM appointment_pets ap JOIN pets p ON p.id = ap.pet_id "
    "WHERE ap.appointment_id = a.id) AS pets, "
    "a.assigned_vet_id, a.start_at, a.end_at, a.duration_minutes, a.appointment_type, "
    "a.title, a.notes, a.status, a.version, a.created_at, a.updated_at"
)


class PgScheduleReads:
    """Appointment lists and the dashboard's audited practice read on the fast path."""

    def __init__(self, pool: PgPool, reader: AuditedReader) -> None:
        self._pool = pool
        self._reader = reader

    async def practice(self, practice_id: UUID) -> PracticeFacts | None:
        rows = await self._pool.fetch(
            "SELECT is_active, timezone FROM practices WHERE id = $1", practice_id
        )
        return (
            PracticeFacts(practice_id, rows[0]["is_active"], rows[0]["timezone"]) if rows else None
        )

    async def practice_audited(
        self, practice_id: UUID, entry: AuditEntry, meta: RequestMeta
    ) -> PracticeFacts | None:
        """The practice, with the read's audit row committed (None: no such practice)."""
        rows = await self._reader.read(
            with_chain_head("SELECT is_active, timezone FROM practices WHERE id = $2"),
            (practice_id,),
            ReadAudit(lambda _row: entry, meta),
        )
        if not rows:
            return None
        return PracticeFacts(practice_id, rows[0]["is_active"], rows[0]["timezone"])

    async def appointment(
        self, scope: ClientScope, appointment_id: UUID, audit: ReadAudit
    ) -> Row | None:
        """The appointment in the scope, its audit row committed first; None: not in the
        scope (nothing written)."""
        args = SqlArgs(appointment_id, offset=1)  # $2
        sql = with_chain_head(
            f"SELECT {APPOINTMENT_COLUMNS} FROM appointments a "
            "JOIN pet_owners o ON o.id = a.pet_owner_id "
            f"WHERE a.id = $2 AND {appointment_in_scope_sql(scope, args)}"
        )
        return await self._reader.one(sql, args, audit)

    async def appointments_page(
        self, filters: AppointmentFilters, page: PageRequest, audit: ReadAudit
    ) -> Page[Row]:
        """A page, its audit row committed first (empty or not)."""
        args = SqlArgs(page.limit + 1, offset=1)  # $2
        sql = with_chain_head(_appointments_page_sql(filters, page, args), order_by=PAGE_ORDER)
        rows = await self._reader.read(sql, tuple(args.values), audit)
        return _appointment_page(rows or [], page)

    async def owner_appointments(
        self, scope: ClientScope, owner_id: UUID, page: PageRequest, audit: ReadAudit
    ) -> Page[Row] | None:
        """A page of the owner's appointments in the scope, its audit row committed first;
        None when the owner is not in the client scope (nothing written)."""
        args = SqlArgs(page.limit + 1, owner_id, offset=1)  # $2, $3
        filters = AppointmentFilters(scope=scope, owner_id=owner_id)
        owner_seen = owner_in_scope_sql(scope, "listed_owner.id", args)
        sql = with_chain_head(
            "SELECT d.* FROM pet_owners listed_owner "
            f"CROSS JOIN LATERAL ({_appointments_page_sql(filters, page, args)}) AS d "
            f"WHERE listed_owner.id = $3 AND {owner_seen}",
            order_by=PAGE_ORDER,
        )
        rows = await self._reader.read(sql, tuple(args.values), audit)
        return None if rows is None else _appointment_page(rows, page)


def _appointments_page_sql(filters: AppointmentFilters, page: PageRequest, args: SqlArgs) -> str:
    """A page of appointments as an audited page (adapters/db/seen.py: at least one row,
    the first carrying the ids shown and their practices); ``$2`` is the page size + 1,
    the filters' values are added to ``args``."""
    conditions = [
        appointment_in_scope_sql(filters.scope, args),
        *args.conditions(
            ("a.practice_id =", filters.practice_id),
            ("a.pet_owner_id =", filters.owner_id),
            ("a.start_at >=", filters.start_from),
            ("a.start_at <", filters.start_to),
            ("a.assigned_vet_id =", filters.vet_id),
            ("a.status =", filters.status),
        ),
        *args.after("a.start_at, a.id", page.after),
    ]
    return audited_page(
        f"SELECT {APPOINTMENT_COLUMNS} FROM appointments a "
        "JOIN pet_owners o ON o.id = a.pet_owner_id "
        f"WHERE {' AND '.join(conditions)} ORDER BY a.start_at, a.id LIMIT $2",
        "$2",
        practices=ROW_PRACTICES,
    )


def _appointment_page(rows: Rows, page: PageRequest) -> Page[Row]:
    return shown_page(rows, page, lambda r: (r["start_at"], r["id"]))
