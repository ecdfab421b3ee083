"""Scheduling depth: a practice's opening hours and booking settings, its vets' weekly
rosters, one-off exceptions (a practice closure or special hours; a vet's day off or
changed hours), appointment types with their default durations, and the free slots
computed from all of them.

Every time of day here is a wall-clock time in the practice's timezone. A day's slots are
computed in absolute time (UTC) from the local boundaries of each interval, so a day
around a DST change has the slots its wall clock has: none in the hour that is skipped,
twice the slots of the hour that is repeated. A boundary that falls into a skipped hour
is read with the offset before the change (01:30 on a spring-forward day in London is
02:30 BST), as PEP 495 does for ``fold=0``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from uuid import UUID
from zoneinfo import ZoneInfo

from vetchart.domain.appointments import (
    MAX_DURATION_MINUTES,
    MIN_DURATION_MINUTES,
    AppointmentType,
    check_start,
)
from vetchart.domain.commands import stripped
from vetchart.domain.errors import RuleViolation

# Booking settings: defaults and bounds.
DEFAULT_CANCEL_CUTOFF_HOURS = 24
MAX_CANCEL_CUTOFF_HOURS = 30 * 24
DEFAULT_SLOT_STEP_MINUTES = 15
MIN_SLOT_STEP_MINUTES = 5
MAX_SLOT_STEP_MINUTES = 240
# At most this many intervals in one weekly schedule (hours or a roster).
MAX_WEEKLY_INTERVALS = 70
MAX_REASON_LENGTH = 500
MAX_TYPE_NAME_LENGTH = 100
# A list of exceptions covers at most this many days.
MAX_EXCEPTION_RANGE_DAYS = 92


def _rule(message: str, rule: str, field: str) -> RuleViolation:
    return RuleViolation(message, rule=rule, field=field)


# The bounded whole-number fields: (lowest, highest, rule, the message of a value outside).
_BOUNDS: dict[str, tuple[int, int, str, str]] = {
    "weekday": (1, 7, "schedule.weekday", "weekday is 1 (Monday) to 7 (Sunday)."),
    "cancel_cutoff_hours": (
        0,
        MAX_CANCEL_CUTOFF_HOURS,
        "schedule.cancel_cutoff",
        f"cancel_cutoff_hours is 0 to {MAX_CANCEL_CUTOFF_HOURS}.",
    ),
    "slot_step_minutes": (
        MIN_SLOT_STEP_MINUTES,
        MAX_SLOT_STEP_MINUTES,
        "schedule.slot_step",
        f"slot_step_minutes is {MIN_SLOT_STEP_MINUTES} to {MAX_SLOT_STEP_MINUTES}.",
    ),
    "duration_minutes": (
        MIN_DURATION_MINUTES,
        MAX_DURATION_MINUTES,
        "appointment_type.duration",
        f"A duration is {MIN_DURATION_MINUTES} to {MAX_DURATION_MINUTES} minutes.",
    ),
}


def _check_bounds(spec: object, *fields: str) -> None:
    """Each of ``spec``'s ``fields`` within its ``_BOUNDS`` (in order; the first outside
    is the rule violated)."""
    for field in fields:
        low, high, rule, message = _BOUNDS[field]
        if not low <= getattr(spec, field) <= high:
            raise _rule(message, rule, field)


@dataclass(frozen=True, order=True)
class WeeklyInterval:
    """``[start_time, end_time)`` on an ISO weekday (1 = Monday ... 7 = Sunday)."""

    weekday: int
    start_time: time
    end_time: time

    def __post_init__(self) -> None:
        _check_bounds(self, "weekday")
        _check_times(self.start_time, self.end_time)


def _check_times(start: time, end: time) -> None:
    if start.tzinfo is not None or end.tzinfo is not None:
        raise _rule(
            "Times of day are the practice's wall-clock times, without an offset.",
            "schedule.time_offset",
            "start_time",
        )
    if end <= start:
        raise _rule("end_time must be after start_time.", "schedule.interval_order", "end_time")


def check_weekly(intervals: Iterable[WeeklyInterval], field: str) -> tuple[WeeklyInterval, ...]:
    """Sorted, at most ``MAX_WEEKLY_INTERVALS``, no two overlapping on one weekday."""
    ordered = tuple(sorted(set(intervals)))
    if len(ordered) > MAX_WEEKLY_INTERVALS:
        raise _rule(f"At most {MAX_WEEKLY_INTERVALS} intervals a week.", "schedule.too_many", field)
    for before, after in pairwise(ordered):
        if before.weekday == after.weekday and after.start_time < before.end_time:
            raise _rule(
                f"Intervals overlap on weekday {before.weekday}.", "schedule.overlap", field
            )
    return ordered


@dataclass(frozen=True, kw_only=True)
class ScheduleSettings:
    """A practice's opening hours and booking settings (one per practice)."""

    practice_id: UUID
    opening_hours: tuple[WeeklyInterval, ...]
    cancel_cutoff_hours: int
    slot_step_minutes: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class SettingsSpec:
    """``PUT /practices/{id}/schedule-settings``: the whole set, replaced."""

    opening_hours: tuple[WeeklyInterval, ...]
    cancel_cutoff_hours: int = DEFAULT_CANCEL_CUTOFF_HOURS
    slot_step_minutes: int = DEFAULT_SLOT_STEP_MINUTES

    def __post_init__(self) -> None:
        object.__setattr__(self, "opening_hours", check_weekly(self.opening_hours, "opening_hours"))
        _check_bounds(self, "cancel_cutoff_hours", "slot_step_minutes")


@dataclass(frozen=True, kw_only=True)
class RosterSpec:
    """``PUT /practices/{id}/rosters/{vet_id}``: the vet's whole weekly availability."""

    intervals: tuple[WeeklyInterval, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "intervals", check_weekly(self.intervals, "intervals"))


@dataclass(frozen=True, kw_only=True)
class ScheduleException:
    """One day that differs from the week: for the practice (``vet_id`` None: closed, or
    open only ``[start_time, end_time)``) or for one vet (off, or working only then)."""

    id: UUID
    practice_id: UUID
    vet_id: UUID | None
    day: date
    start_time: time | None
    end_time: time | None
    reason: str | None
    created_by: UUID
    created_at: datetime
    updated_at: datetime

    @property
    def closed(self) -> bool:
        return self.start_time is None


@dataclass(frozen=True, kw_only=True)
class NewException:
    """``POST /practices/{id}/schedule-exceptions``."""

    day: date
    vet_id: UUID | None = None
    start_time: time | None = None
    end_time: time | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if (self.start_time is None) != (self.end_time is None):
            raise _rule(
                "Send both start_time and end_time (special hours), or neither (closed).",
                "schedule.exception_times",
                "start_time",
            )
        if self.start_time is not None and self.end_time is not None:
            _check_times(self.start_time, self.end_time)
        reason = stripped(self.reason)
        if isinstance(reason, str) and len(reason) > MAX_REASON_LENGTH:
            raise _rule(
                f"A reason has at most {MAX_REASON_LENGTH} characters.", "schedule.reason", "reason"
            )
        object.__setattr__(self, "reason", reason)

    def exception(
        self, *, id: UUID, practice_id: UUID, created_by: UUID, now: datetime
    ) -> ScheduleException:
        """The practice's exception asked for, made by ``created_by`` ``now``."""
        return ScheduleException(
            id=id,
            practice_id=practice_id,
            vet_id=self.vet_id,
            day=self.day,
            start_time=self.start_time,
            end_time=self.end_time,
            reason=self.reason,
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )


def check_range(start: date, end: date) -> None:
    if end < start or (end - start).days > MAX_EXCEPTION_RANGE_DAYS:
        raise _rule(
            f"from..to is a range of at most {MAX_EXCEPTION_RANGE_DAYS} days, from first.",
            "schedule.range",
            "to",
        )


@dataclass(frozen=True, kw_only=True)
class AppointmentTypeSetting:
    """A practice's appointment type: its name, default duration, and whether owners may
    request it online."""

    id: UUID
    practice_id: UUID
    appointment_type: AppointmentType
    name: str
    duration_minutes: int
    owner_bookable: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class TypeSpec:
    """``PUT /practices/{id}/appointment-types/{appointment_type}``."""

    name: str
    duration_minutes: int
    owner_bookable: bool = True

    def __post_init__(self) -> None:
        name = " ".join(self.name.split())
        if not name or len(name) > MAX_TYPE_NAME_LENGTH:
            raise _rule(
                f"A name has 1 to {MAX_TYPE_NAME_LENGTH} characters.",
                "appointment_type.name",
                "name",
            )
        object.__setattr__(self, "name", name)
        _check_bounds(self, "duration_minutes")

    def setting(
        self, *, id: UUID, practice_id: UUID, appointment_type: AppointmentType, now: datetime
    ) -> AppointmentTypeSetting:
        """The practice's setting of ``appointment_type`` as specified, made ``now``."""
        return AppointmentTypeSetting(
            id=id,
            practice_id=practice_id,
            appointment_type=appointment_type,
            name=self.name,
            duration_minutes=self.duration_minutes,
            owner_bookable=self.owner_bookable,
            created_at=now,
            updated_at=now,
        )


@dataclass(frozen=True, kw_only=True)
class AppointmentRequest:
    """``POST /practices/{id}/appointment-requests``: an owner asks for a free slot."""

    pet_ids: tuple[UUID, ...]
    appointment_type: AppointmentType
    start_at: datetime
    vet_id: UUID | None = None
    notes: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_at", check_start(self.start_at))
        object.__setattr__(self, "notes", stripped(self.notes))


# --------------------------------------------------------------------------- slots


@dataclass(frozen=True)
class VetDay:
    """A vet and the wall-clock intervals they work on the day (after exceptions)."""

    vet_id: UUID
    name: str
    intervals: tuple[tuple[time, time], ...]


@dataclass(frozen=True)
class Slot:
    start_at: datetime  # in the practice's timezone (its offset that day)
    end_at: datetime
    vet_id: UUID
    vet_name: str


def day_intervals(
    day: date,
    weekly: Iterable[WeeklyInterval],
    exception: ScheduleException | None,
) -> tuple[tuple[time, time], ...]:
    """The day's intervals: the exception's (none when closed/off), else the week's."""
    if exception is not None:
        if exception.start_time is None or exception.end_time is None:
            return ()
        return ((exception.start_time, exception.end_time),)
    weekday = day.isoweekday()
    return tuple((i.start_time, i.end_time) for i in sorted(weekly) if i.weekday == weekday)


def _intersect(
    left: Sequence[tuple[time, time]], right: Sequence[tuple[time, time]]
) -> list[tuple[time, time]]:
    both = []
    for a_start, a_end in left:
        for b_start, b_end in right:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start < end:
                both.append((start, end))
    return sorted(both)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a day (a skipped time: the later one)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def free_slots(
    *,
    day: date,
    timezone: str,
    opening: Sequence[tuple[time, time]],
    vets: Sequence[VetDay],
    busy: Mapping[UUID, Sequence[tuple[datetime, datetime]]],
    duration_minutes: int,
    step_minutes: int,
    not_before: datetime,
) -> list[Slot]:
    """Every start, ``step_minutes`` apart from the start of each interval where a vet
    works while the practice is open, whose ``duration_minutes`` fit in the interval,
    miss every busy range of that vet (half-open: touching is fine) and do not start
    before ``not_before``. By start time, then vet name and id."""
    zone = ZoneInfo(timezone)
    duration = timedelta(minutes=duration_minutes)
    step = timedelta(minutes=step_minutes)
    found: list[Slot] = []
    for vet in vets:
        taken = busy.get(vet.vet_id, ())
        for start_local, end_local in _intersect(vet.intervals, opening):
            start = local_instant(day, start_local, zone)
            end = local_instant(day, end_local, zone)
            at = start
            while at + duration <= end:
                finish = at + duration
                if at >= not_before and not any(
                    at < b_end and finish > b_start for b_start, b_end in taken
                ):
                    found.append(
                        Slot(at.astimezone(zone), finish.astimezone(zone), vet.vet_id, vet.name)
                    )
                at += step
    return sorted(found, key=lambda s: (s.start_at, s.vet_name, str(s.vet_id)))


def cancel_deadline(start_at: datetime, cutoff_hours: int) -> datetime:
    """The last moment an owner may cancel an appointment starting at ``start_at``."""
    return start_at - timedelta(hours=cutoff_hours)
