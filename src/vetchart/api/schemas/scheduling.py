"""Scheduling: settings and opening hours, rosters, exceptions, appointment types, free
slots, owners' appointment requests."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated
from uuid import UUID

from pydantic import Field
from pydantic.dataclasses import dataclass

from vetchart.api.schemas.bounded import BoundedAwareDatetime, BoundedDate
from vetchart.api.schemas.common import RequestModel, ResponseModel
from vetchart.api.schemas.schedule import Duration, Notes, PetIds
from vetchart.domain.appointments import AppointmentType
from vetchart.domain.scheduling import (
    DEFAULT_CANCEL_CUTOFF_HOURS,
    DEFAULT_SLOT_STEP_MINUTES,
    MAX_CANCEL_CUTOFF_HOURS,
    MAX_REASON_LENGTH,
    MAX_SLOT_STEP_MINUTES,
    MAX_TYPE_NAME_LENGTH,
    MAX_WEEKLY_INTERVALS,
    MIN_SLOT_STEP_MINUTES,
    AppointmentTypeSetting,
)

Weekday = Annotated[int, Field(ge=1, le=7, description="ISO weekday: 1 = Monday ... 7 = Sunday.")]
WallTime = Annotated[
    time, Field(description="A wall-clock time in the practice's timezone (HH:MM[:SS]).")
]


class WeeklyIntervalIO(RequestModel):
    weekday: Weekday
    start_time: WallTime
    end_time: WallTime


Weekly = Annotated[list[WeeklyIntervalIO], Field(max_length=MAX_WEEKLY_INTERVALS)]


class ScheduleSettingsIn(RequestModel):
    opening_hours: Weekly
    cancel_cutoff_hours: Annotated[int, Field(ge=0, le=MAX_CANCEL_CUTOFF_HOURS)] = (
        DEFAULT_CANCEL_CUTOFF_HOURS
    )
    slot_step_minutes: Annotated[int, Field(ge=MIN_SLOT_STEP_MINUTES, le=MAX_SLOT_STEP_MINUTES)] = (
        DEFAULT_SLOT_STEP_MINUTES
    )


class ScheduleSettingsOut(ResponseModel):
    practice_id: UUID
    timezone: str
    opening_hours: list[WeeklyIntervalIO]
    cancel_cutoff_hours: int
    slot_step_minutes: int
    created_at: datetime | None = Field(description="None until the settings are first saved.")
    updated_at: datetime | None


class RosterIn(RequestModel):
    intervals: Weekly


class RosterOut(ResponseModel):
    vet_id: UUID
    vet_name: str
    intervals: list[WeeklyIntervalIO]


class RostersOut(ResponseModel):
    """A bounded collection, whole in one answer: ``next_cursor`` is always null."""

    items: list[RosterOut]
    next_cursor: None = None


class ScheduleExceptionIn(RequestModel):
    date: BoundedDate
    vet_id: UUID | None = Field(
        default=None, description="None: the practice's own day (a closure or special hours)."
    )
    start_time: WallTime | None = None
    end_time: WallTime | None = None
    reason: Annotated[str | None, Field(max_length=MAX_REASON_LENGTH)] = None


class ScheduleExceptionOut(ResponseModel):
    id: UUID
    practice_id: UUID
    vet_id: UUID | None
    date: BoundedDate
    closed: bool = Field(description="True: closed (the practice) or off (the vet) all day.")
    start_time: time | None
    end_time: time | None
    reason: str | None
    created_by: UUID
    created_at: datetime
    updated_at: datetime


class ScheduleExceptionsOut(ResponseModel):
    """A bounded collection, whole in one answer: ``next_cursor`` is always null."""

    items: list[ScheduleExceptionOut]
    next_cursor: None = None


class AppointmentTypeIn(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=MAX_TYPE_NAME_LENGTH)]
    duration_minutes: Duration
    owner_bookable: bool = True


# A practice's appointment type is answered as the domain keeps it: the fields of
# AppointmentTypeSetting, declared there once. A field added there is
# answered too, and fails tests/unit/test_inherited_responses.py until reviewed and pinned.
@dataclass(frozen=True)
class AppointmentTypeOut(AppointmentTypeSetting):
    pass


class AppointmentTypesOut(ResponseModel):
    """A bounded collection, whole in one answer: ``next_cursor`` is always null."""

    items: list[AppointmentTypeOut]
    next_cursor: None = None


class SlotOut(ResponseModel):
    start_at: datetime = Field(description="With the practice's UTC offset on that day.")
    end_at: datetime
    vet_id: UUID
    vet_name: str


class SlotsOut(ResponseModel):
    date: BoundedDate
    timezone: str
    appointment_type: AppointmentType
    duration_minutes: int
    vet_id: UUID | None
    items: list[SlotOut]
    next_cursor: None = None


class AppointmentRequestIn(RequestModel):
    pet_ids: PetIds
    appointment_type: AppointmentType
    start_at: BoundedAwareDatetime = Field(description="A free slot's start_at.")
    vet_id: UUID | None = Field(
        default=None, description="None: the first vet (by name) free at that time."
    )
    notes: Notes = None
