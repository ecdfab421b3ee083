"""The scheduling repository (opening hours, rosters, exceptions, appointment types, the
busy ranges of vets) on the unit of work's session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from vetchart.adapters.db.constraints import translated
from vetchart.adapters.db.tables import (
    appointment_types,
    appointments,
    opening_hours,
    schedule_exceptions,
    schedule_settings,
    users,
    vet_rosters,
)
from vetchart.domain.appointments import FREEING, AppointmentType
from vetchart.domain.scheduling import (
    AppointmentTypeSetting,
    ScheduleException,
    ScheduleSettings,
    WeeklyInterval,
)
from vetchart.domain.users import Role
from vetchart.services.ports.scheduling import VetBrief
from vetchart.services.ports.system import IdGenerator

_FREEING = [status.value for status in FREEING]
_EXCEPTION_COLUMNS = [column.name for column in schedule_exceptions.c]


def _interval(row: Any) -> WeeklyInterval:
    return WeeklyInterval(row.weekday, row.start_time, row.end_time)


def _type(row: Any) -> AppointmentTypeSetting:
    return AppointmentTypeSetting(
        id=row.id,
        practice_id=row.practice_id,
        appointment_type=AppointmentType(row.appointment_type),
        name=row.name,
        duration_minutes=row.duration_minutes,
        owner_bookable=row.owner_bookable,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlSchedulingRepository:
    def __init__(self, session: AsyncSession, ids: IdGenerator) -> None:
        self._session = session
        self._ids = ids

    async def settings(self, practice_id: UUID) -> ScheduleSettings | None:
        row = (
            await self._session.execute(
                select(schedule_settings).where(schedule_settings.c.practice_id == practice_id)
            )
        ).first()
        if row is None:
            return None
        hours = await self._session.execute(
            select(opening_hours).where(opening_hours.c.practice_id == practice_id)
        )
        return ScheduleSettings(
            practice_id=practice_id,
            opening_hours=tuple(sorted(_interval(h) for h in hours)),
            cancel_cutoff_hours=row.cancel_cutoff_hours,
            slot_step_minutes=row.slot_step_minutes,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def save_settings(self, settings: ScheduleSettings) -> None:
        values = {
            "practice_id": settings.practice_id,
            "cancel_cutoff_hours": settings.cancel_cutoff_hours,
            "slot_step_minutes": settings.slot_step_minutes,
            "created_at": settings.created_at,
            "updated_at": settings.updated_at,
        }
        upsert = pg_insert(schedule_settings).values(**values)
        await self._session.execute(
            upsert.on_conflict_do_update(
                index_elements=[schedule_settings.c.practice_id],
                set_={
                    name: upsert.excluded[name]
                    for name in ("cancel_cutoff_hours", "slot_step_minutes", "updated_at")
                },
            )
        )
        await self._session.execute(
            delete(opening_hours).where(opening_hours.c.practice_id == settings.practice_id)
        )
        if settings.opening_hours:
            await self._session.execute(
                insert(opening_hours),
                [
                    {
                        "id": self._ids.new_id(),
                        "practice_id": settings.practice_id,
                        "weekday": i.weekday,
                        "start_time": i.start_time,
                        "end_time": i.end_time,
                    }
                    for i in settings.opening_hours
                ],
            )

    async def vets(self, practice_id: UUID, vet_id: UUID | None = None) -> list[VetBrief]:
        query = select(users.c.id, users.c.full_name).where(
            users.c.practice_id == practice_id,
            users.c.role == Role.VET.value,
            users.c.is_active,
        )
        if vet_id is not None:
            query = query.where(users.c.id == vet_id)
        rows = await self._session.execute(query.order_by(users.c.full_name, users.c.id))
        return [VetBrief(row.id, row.full_name) for row in rows]

    async def rosters(
        self, practice_id: UUID, vet_id: UUID | None = None
    ) -> dict[UUID, tuple[WeeklyInterval, ...]]:
        query = select(vet_rosters).where(vet_rosters.c.practice_id == practice_id)
        if vet_id is not None:
            query = query.where(vet_rosters.c.vet_id == vet_id)
        found: dict[UUID, list[WeeklyInterval]] = {}
        for row in await self._session.execute(query):
            found.setdefault(row.vet_id, []).append(_interval(row))
        return {vet: tuple(sorted(intervals)) for vet, intervals in found.items()}

    async def replace_roster(
        self, practice_id: UUID, vet_id: UUID, intervals: Sequence[WeeklyInterval]
    ) -> None:
        await self._session.execute(
            delete(vet_rosters).where(
                vet_rosters.c.practice_id == practice_id, vet_rosters.c.vet_id == vet_id
            )
        )
        if intervals:
            await self._session.execute(
                insert(vet_rosters),
                [
                    {
                        "id": self._ids.new_id(),
                        "practice_id": practice_id,
                        "vet_id": vet_id,
                        "weekday": i.weekday,
                        "start_time": i.start_time,
                        "end_time": i.end_time,
                    }
                    for i in intervals
                ],
            )

    async def exceptions(
        self, practice_id: UUID, first: date, last: date, vet_id: UUID | None = None
    ) -> list[ScheduleException]:
        e = schedule_exceptions
        query = select(e).where(e.c.practice_id == practice_id, e.c.day.between(first, last))
        if vet_id is not None:
            query = query.where((e.c.vet_id.is_(None)) | (e.c.vet_id == vet_id))
        query = query.order_by(e.c.day, e.c.vet_id.is_not(None), e.c.vet_id, e.c.id)
        return [
            ScheduleException(**{name: row._mapping[name] for name in _EXCEPTION_COLUMNS})
            for row in await self._session.execute(query)
        ]

    async def add_exception(self, exception: ScheduleException) -> None:
        values = {name: getattr(exception, name) for name in _EXCEPTION_COLUMNS}
        async with translated(self._session):
            await self._session.execute(insert(schedule_exceptions).values(**values))

    async def remove_exception(self, practice_id: UUID, exception_id: UUID) -> bool:
        result = await self._session.execute(
            delete(schedule_exceptions)
            .where(
                schedule_exceptions.c.practice_id == practice_id,
                schedule_exceptions.c.id == exception_id,
            )
            .returning(schedule_exceptions.c.id)
        )
        return result.first() is not None

    async def types(self, practice_id: UUID) -> list[AppointmentTypeSetting]:
        t = appointment_types
        rows = await self._session.execute(
            select(t).where(t.c.practice_id == practice_id).order_by(t.c.appointment_type)
        )
        return [_type(row) for row in rows]

    async def type_of(
        self, practice_id: UUID, kind: AppointmentType
    ) -> AppointmentTypeSetting | None:
        t = appointment_types
        row = (
            await self._session.execute(
                select(t).where(t.c.practice_id == practice_id, t.c.appointment_type == kind.value)
            )
        ).first()
        return None if row is None else _type(row)

    async def save_type(self, setting: AppointmentTypeSetting) -> AppointmentTypeSetting:
        t = appointment_types
        upsert = pg_insert(t).values(
            id=setting.id,
            practice_id=setting.practice_id,
            appointment_type=setting.appointment_type.value,
            name=setting.name,
            duration_minutes=setting.duration_minutes,
            owner_bookable=setting.owner_bookable,
            created_at=setting.created_at,
            updated_at=setting.updated_at,
        )
        row = (
            await self._session.execute(
                upsert.on_conflict_do_update(
                    constraint="uq_appointment_types_kind",
                    set_={
                        name: upsert.excluded[name]
                        for name in ("name", "duration_minutes", "owner_bookable", "updated_at")
                    },
                ).returning(t)
            )
        ).one()
        return _type(row)

    async def remove_type(self, practice_id: UUID, kind: AppointmentType) -> bool:
        t = appointment_types
        result = await self._session.execute(
            delete(t)
            .where(t.c.practice_id == practice_id, t.c.appointment_type == kind.value)
            .returning(t.c.id)
        )
        return result.first() is not None

    async def busy(
        self, vet_ids: Sequence[UUID], start: datetime, end: datetime
    ) -> dict[UUID, list[tuple[datetime, datetime]]]:
        a = appointments
        found: dict[UUID, list[tuple[datetime, datetime]]] = {}
        if not vet_ids:
            return found
        rows = await self._session.execute(
            select(a.c.assigned_vet_id, a.c.start_at, a.c.end_at).where(
                a.c.assigned_vet_id.in_(vet_ids),
                a.c.status.not_in(_FREEING),
                a.c.start_at < end,
                a.c.end_at > start,
            )
        )
        for row in rows:
            found.setdefault(row.assigned_vet_id, []).append((row.start_at, row.end_at))
        return found
