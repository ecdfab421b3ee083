"""Scheduling answers: settings, rosters, exceptions, appointment types and free slots."""

from __future__ import annotations

from vetchart.api.schemas.common import response_from
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
    return ScheduleSettingsOut.from_object(view, opening_hours=_weekly(view.opening_hours))


def roster_out(view: RosterView) -> RosterOut:
    return RosterOut.from_object(view, intervals=_weekly(view.intervals))


def exception_out(exception: ScheduleException) -> ScheduleExceptionOut:
    return ScheduleExceptionOut.from_object(exception, date=exception.day)


def type_out(setting: AppointmentTypeSetting) -> AppointmentTypeOut:
    return response_from(AppointmentTypeOut, setting)


def slots_out(view: SlotsView) -> SlotsOut:
    return SlotsOut(
        date=view.day,
        timezone=view.timezone,
        appointment_type=view.appointment_type.appointment_type,
        duration_minutes=view.appointment_type.duration_minutes,
        vet_id=view.vet_id,
        items=[SlotOut.from_object(slot) for slot in view.slots],
    )
