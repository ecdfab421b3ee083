"""Scheduling answers: settings, rosters, exceptions, appointment types and free slots."""

from __future__ import annotations

from vetchart.api.schemas.scheduling import (
    AppointmentTypeOut,
    RosterOut,
    ScheduleExceptionOut,
    ScheduleSettingsOut,
    SlotOut,
    SlotsOut,
    WeeklyIntervalIO,
)
from vetchart.domain.scheduling import AppointmentTypeSetting, ScheduleException, WeeklyInterval
from vetchart.services.scheduling import RosterView, SettingsView, SlotsView


def _weekly(intervals: tuple[WeeklyInterval, ...]) -> list[WeeklyIntervalIO]:
    return [
        WeeklyIntervalIO(weekday=i.weekday, start_time=i.start_time, end_time=i.end_time)
        for i in intervals
    ]


def settings_out(view: SettingsView) -> ScheduleSettingsOut:
    return ScheduleSettingsOut(
        practice_id=view.practice_id,
        timezone=view.timezone,
        opening_hours=_weekly(view.opening_hours),
        cancel_cutoff_hours=view.cancel_cutoff_hours,
        slot_step_minutes=view.slot_step_minutes,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


def roster_out(view: RosterView) -> RosterOut:
    return RosterOut(vet_id=view.vet_id, vet_name=view.vet_name, intervals=_weekly(view.intervals))


def exception_out(exception: ScheduleException) -> ScheduleExceptionOut:
    return ScheduleExceptionOut(
        id=exception.id,
        practice_id=exception.practice_id,
        vet_id=exception.vet_id,
        date=exception.day,
        closed=exception.closed,
        start_time=exception.start_time,
        end_time=exception.end_time,
        reason=exception.reason,
        created_by=exception.created_by,
        created_at=exception.created_at,
        updated_at=exception.updated_at,
    )


def type_out(setting: AppointmentTypeSetting) -> AppointmentTypeOut:
    return AppointmentTypeOut(
        id=setting.id,
        practice_id=setting.practice_id,
        appointment_type=setting.appointment_type,
        name=setting.name,
        duration_minutes=setting.duration_minutes,
        owner_bookable=setting.owner_bookable,
        created_at=setting.created_at,
        updated_at=setting.updated_at,
    )


def slots_out(view: SlotsView) -> SlotsOut:
    return SlotsOut(
        date=view.day,
        timezone=view.timezone,
        appointment_type=view.appointment_type.appointment_type,
        duration_minutes=view.appointment_type.duration_minutes,
        vet_id=view.vet_id,
        items=[
            SlotOut(start_at=s.start_at, end_at=s.end_at, vet_id=s.vet_id, vet_name=s.vet_name)
            for s in view.slots
        ],
    )
