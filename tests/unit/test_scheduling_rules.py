"""The scheduling rules without I/O: weekly intervals, a day's intervals, free slots."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pytest

from vetchart.domain.appointments import MAX_DURATION_MINUTES, MIN_DURATION_MINUTES
from vetchart.domain.errors import RuleViolation
from vetchart.domain.scheduling import (
    NewException,
    SettingsSpec,
    TypeSpec,
    VetDay,
    WeeklyInterval,
    check_weekly,
    day_intervals,
    free_slots,
)

VET = uuid.uuid4()
DAY = date(2027, 6, 7)  # a Monday (BST, +01:00)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def _slots(**overrides: object) -> list[str]:
    values: dict[str, object] = {
        "day": DAY,
        "timezone": "Europe/London",
        "opening": [(time(9), time(10))],
        "vets": [VetDay(VET, "Dr Vet", ((time(8), time(18)),))],
        "busy": {},
        "duration_minutes": 30,
        "step_minutes": 15,
        "not_before": LONG_AGO,
    } | overrides
    return [s.start_at.strftime("%H:%M") for s in free_slots(**values)]  # type: ignore[arg-type]


def test_slots_fit_the_interval_and_step() -> None:
    assert _slots() == ["09:00", "09:15", "09:30"]
    assert _slots(step_minutes=30) == ["09:00", "09:30"]
    assert _slots(duration_minutes=61) == []


def test_busy_ranges_are_half_open() -> None:
    # 09:30-10:00 local is 08:30-09:00 UTC: 09:00 touches it, 09:15 overlaps.
    start = datetime(2027, 6, 7, 8, 30, tzinfo=UTC)
    assert _slots(busy={VET: [(start, start + timedelta(minutes=30))]}) == ["09:00"]
    # Another vet's booking does not matter.
    assert _slots(busy={uuid.uuid4(): [(start, start + timedelta(minutes=30))]}) == [
        "09:00",
        "09:15",
        "09:30",
    ]


def test_nothing_in_the_past() -> None:
    assert _slots(not_before=datetime(2027, 6, 7, 8, 10, tzinfo=UTC)) == ["09:15", "09:30"]


def test_the_vet_and_the_practice_must_both_be_there() -> None:
    vets = [VetDay(VET, "Dr Vet", ((time(9, 30), time(12)),))]
    assert _slots(vets=vets) == ["09:30"]
    assert _slots(vets=[VetDay(VET, "Dr Vet", ())]) == []


def test_an_exception_replaces_the_week() -> None:
    week = [WeeklyInterval(1, time(9), time(17))]
    assert day_intervals(DAY, week, None) == ((time(9), time(17)),)
    assert day_intervals(DAY + timedelta(days=1), week, None) == ()


def test_weekly_intervals_are_checked() -> None:
    with pytest.raises(RuleViolation):
        check_weekly(
            [WeeklyInterval(1, time(9), time(12)), WeeklyInterval(1, time(11), time(13))], "x"
        )
    with pytest.raises(RuleViolation):
        WeeklyInterval(1, time(12), time(9))
    with pytest.raises(RuleViolation):
        WeeklyInterval(0, time(9), time(12))
    with pytest.raises(RuleViolation):
        SettingsSpec(opening_hours=(), cancel_cutoff_hours=-1)
    with pytest.raises(RuleViolation):
        NewException(day=DAY, start_time=time(9))
    assert check_weekly(
        [WeeklyInterval(1, time(12), time(13)), WeeklyInterval(1, time(9), time(12))], "x"
    )[0].start_time == time(9)


@pytest.mark.parametrize(
    ("build", "rule", "field"),
    [
        (lambda v: WeeklyInterval(v, time(9), time(12)), "schedule.weekday", "weekday"),
        (
            lambda v: SettingsSpec(opening_hours=(), cancel_cutoff_hours=v),
            "schedule.cancel_cutoff",
            "cancel_cutoff_hours",
        ),
        (
            lambda v: SettingsSpec(opening_hours=(), slot_step_minutes=v),
            "schedule.slot_step",
            "slot_step_minutes",
        ),
        (
            lambda v: TypeSpec(name="Consult", duration_minutes=v),
            "appointment_type.duration",
            "duration_minutes",
        ),
    ],
)
def test_bounded_fields_name_their_rule_and_field(
    build: Callable[[int], object], rule: str, field: str
) -> None:
    """Each bounded number takes its lowest and highest value; one past either end is
    the field's own rule (422 naming the field)."""
    low, high = {
        "weekday": (1, 7),
        "cancel_cutoff_hours": (0, 30 * 24),
        "slot_step_minutes": (5, 240),
        "duration_minutes": (MIN_DURATION_MINUTES, MAX_DURATION_MINUTES),
    }[field]
    build(low)
    build(high)
    for outside in (low - 1, high + 1):
        with pytest.raises(RuleViolation) as refused:
            build(outside)
        assert (refused.value.rule, refused.value.field) == (rule, field)
