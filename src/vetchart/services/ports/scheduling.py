"""Scheduling port: opening hours and booking settings, rosters, exceptions, appointment
types, and what a day's free slots are computed from (one unit of work)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from vetchart.domain.appointments import AppointmentType
from vetchart.domain.scheduling import (
    AppointmentTypeSetting,
    ScheduleException,
    ScheduleSettings,
    WeeklyInterval,
)


@dataclass(frozen=True)
class VetBrief:
    id: UUID
    full_name: str


class SchedulingRepository(Protocol):
    async def settings(self, practice_id: UUID) -> ScheduleSettings | None: ...

    async def save_settings(self, settings: ScheduleSettings) -> None:
        """Insert or replace the settings and the whole set of opening hours."""
        ...

    async def vets(self, practice_id: UUID, vet_id: UUID | None = None) -> list[VetBrief]:
        """The practice's active VETs (one, when ``vet_id`` is given), by name and id."""
        ...

    async def rosters(
        self, practice_id: UUID, vet_id: UUID | None = None
    ) -> dict[UUID, tuple[WeeklyInterval, ...]]:
        """Each vet's weekly intervals (one vet's, when ``vet_id`` is given)."""
        ...

    async def replace_roster(
        self, practice_id: UUID, vet_id: UUID, intervals: Sequence[WeeklyInterval]
    ) -> None: ...

    async def exceptions(
        self, practice_id: UUID, first: date, last: date, vet_id: UUID | None = None
    ) -> list[ScheduleException]:
        """The exceptions of days ``first``..``last`` (inclusive), the practice's and every
        vet's (or only the practice's and that vet's), by day, practice first, vet."""
        ...

    async def add_exception(self, exception: ScheduleException) -> None:
        """Raises ``Conflict`` when that day already has one for the practice/vet."""
        ...

    async def remove_exception(self, practice_id: UUID, exception_id: UUID) -> bool: ...

    async def types(self, practice_id: UUID) -> list[AppointmentTypeSetting]: ...

    async def type_of(
        self, practice_id: UUID, kind: AppointmentType
    ) -> AppointmentTypeSetting | None: ...

    async def save_type(self, setting: AppointmentTypeSetting) -> AppointmentTypeSetting:
        """Insert, or update the one of the same practice and kind (its id and
        created_at kept): the stored row."""
        ...

    async def remove_type(self, practice_id: UUID, kind: AppointmentType) -> bool: ...

    async def busy(
        self, vet_ids: Sequence[UUID], start: datetime, end: datetime
    ) -> dict[UUID, list[tuple[datetime, datetime]]]:
        """The vets' appointments that hold their slot and overlap ``[start, end)``."""
        ...
