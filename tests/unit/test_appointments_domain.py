"""The appointment aggregate (vetchart.domain.appointments) without a database: the
status machine (all 7 x 7 pairs), practice-local days across DST changes, and the
duration / start / title rules."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from vetchart.domain.appointments import (
    EDITABLE,
    FREEING,
    MAX_DURATION_MINUTES,
    MAX_TITLE_LENGTH,
    MIN_DURATION_MINUTES,
    TRANSITIONS,
    Appointment,
    AppointmentChanged,
    AppointmentStatus,
    AppointmentType,
    check_duration,
    check_start,
    check_title,
    local_day_bounds,
    local_today,
    new_appointment,
)
from vetchart.domain.errors import Conflict, RuleViolation

S = AppointmentStatus
NOW = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
START = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)

# PRODUCT.md, written out independently of the implementation's table.
LEGAL = {
    # An owner's request (issue 15): staff schedule, confirm or decline it; it may be
    # cancelled (withdrawn) before then.
    (S.REQUESTED, S.SCHEDULED),
    (S.REQUESTED, S.CONFIRMED),
    (S.REQUESTED, S.DECLINED),
    (S.REQUESTED, S.CANCELLED),
    (S.SCHEDULED, S.CONFIRMED),
    (S.CONFIRMED, S.CHECKED_IN),
    (S.CHECKED_IN, S.IN_PROGRESS),
    (S.IN_PROGRESS, S.COMPLETED),
    (S.SCHEDULED, S.CANCELLED),
    (S.CONFIRMED, S.CANCELLED),
    (S.CHECKED_IN, S.CANCELLED),
    (S.SCHEDULED, S.NO_SHOW),
    (S.CONFIRMED, S.NO_SHOW),
}
ALL_PAIRS = list(itertools.product(S, S))


def appointment(status: AppointmentStatus = S.SCHEDULED, **overrides: object) -> Appointment:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "practice_id": uuid.uuid4(),
        "pet_owner_id": uuid.uuid4(),
        "pet_ids": (uuid.uuid4(),),
        "assigned_vet_id": uuid.uuid4(),
        "start_at": START,
        "duration_minutes": 30,
        "appointment_type": AppointmentType.CHECKUP,
        "title": "Annual check",
        "notes": None,
        "status": status,
        "created_by": uuid.uuid4(),
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return Appointment(**values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- status machine


def test_the_table_has_all_nine_statuses_and_exactly_the_legal_moves() -> None:
    assert len(ALL_PAIRS) == 81
    assert set(TRANSITIONS) == set(S)
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == LEGAL
    assert {S.CANCELLED, S.NO_SHOW, S.DECLINED} == FREEING
    assert {S.REQUESTED, S.SCHEDULED, S.CONFIRMED} == EDITABLE


@pytest.mark.parametrize(
    ("source", "target"), ALL_PAIRS, ids=[f"{a.value}->{b.value}" for a, b in ALL_PAIRS]
)
def test_every_transition(source: AppointmentStatus, target: AppointmentStatus) -> None:
    booked = appointment(source, version=3)
    later = NOW + timedelta(minutes=5)
    if (source, target) in LEGAL:
        booked.move_to(target, later)
        assert booked.status is target
        assert booked.version == 4
        assert booked.updated_at == later
        event = booked.domain_events[-1]
        assert isinstance(event, AppointmentChanged)
        assert (event.appointment_id, event.status) == (booked.id, target.value)
        assert event.practice_id == booked.practice_id
        return
    with pytest.raises(Conflict) as refused:
        booked.move_to(target, later)
    assert refused.value.code == "appointment-status"
    # Nothing changed.
    assert (booked.status, booked.version, booked.updated_at) == (source, 3, NOW)
    assert booked.domain_events == []


@pytest.mark.parametrize("final", [S.COMPLETED, S.CANCELLED, S.NO_SHOW, S.DECLINED])
def test_final_statuses_name_no_way_out(final: AppointmentStatus) -> None:
    with pytest.raises(Conflict) as refused:
        appointment(final).move_to(S.SCHEDULED, NOW)
    assert refused.value.extra["allowed"] == []
    assert "final" in refused.value.detail


def test_an_illegal_move_names_the_allowed_ones() -> None:
    with pytest.raises(Conflict) as refused:
        appointment(S.CHECKED_IN).move_to(S.NO_SHOW, NOW)
    assert refused.value.extra == {
        "from": "checked_in",
        "to": "no_show",
        "allowed": ["cancelled", "in_progress"],
    }


def test_the_whole_happy_path() -> None:
    booked = appointment()
    for step in (S.CONFIRMED, S.CHECKED_IN, S.IN_PROGRESS, S.COMPLETED):
        booked.move_to(step, NOW)
    assert booked.status is S.COMPLETED
    assert booked.version == 5
    assert [e.status for e in booked.domain_events] == [  # type: ignore[attr-defined]
        "confirmed",
        "checked_in",
        "in_progress",
        "completed",
    ]


def test_new_appointment_announces_itself() -> None:
    booked = new_appointment(
        id=uuid.uuid4(),
        practice_id=uuid.uuid4(),
        pet_owner_id=uuid.uuid4(),
        pet_ids=(uuid.uuid4(),),
        assigned_vet_id=uuid.uuid4(),
        start_at=START,
        duration_minutes=45,
        appointment_type=AppointmentType.SURGERY,
        title="Spay",
        notes=None,
        status=S.SCHEDULED,
        created_by=uuid.uuid4(),
        created_at=NOW,
        updated_at=NOW,
    )
    assert booked.end_at == START + timedelta(minutes=45)
    assert len(booked.domain_events) == 1
    assert booked.domain_events[0].start_at == START  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- editing


@pytest.mark.parametrize("status", list(S), ids=lambda s: s.value)
def test_rescheduling_only_before_the_visit_starts(status: AppointmentStatus) -> None:
    booked = appointment(status)
    moved = START + timedelta(hours=1)
    if status in (S.REQUESTED, S.SCHEDULED, S.CONFIRMED):
        assert booked.edit({"start_at": moved}, NOW) == ["start_at"]
        assert booked.start_at == moved
        assert booked.end_at == moved + timedelta(minutes=30)
        assert booked.version == 2
    else:
        with pytest.raises(Conflict):
            booked.edit({"start_at": moved}, NOW)
        assert booked.start_at == START
        assert booked.version == 1
    # Title and notes may change in any status.
    fresh = appointment(status)
    assert fresh.edit({"title": "Renamed", "notes": "n"}, NOW) == ["title", "notes"]


def test_an_edit_that_changes_nothing_is_not_a_new_version() -> None:
    booked = appointment()
    assert booked.edit({"title": "Annual check", "duration_minutes": 30}, NOW) == []
    assert booked.version == 1
    assert booked.domain_events == []


# --------------------------------------------------------------------------- time rules


@pytest.mark.parametrize(
    ("minutes", "ok"),
    [
        (MIN_DURATION_MINUTES - 1, False),
        (MIN_DURATION_MINUTES, True),
        (30, True),
        (MAX_DURATION_MINUTES, True),
        (MAX_DURATION_MINUTES + 1, False),
        (0, False),
        (-30, False),
    ],
)
def test_duration_bounds(minutes: int, ok: bool) -> None:
    if ok:
        assert check_duration(minutes) == minutes
    else:
        with pytest.raises(RuleViolation) as refused:
            check_duration(minutes)
        assert (refused.value.rule, refused.value.field) == (
            "appointment.duration",
            "duration_minutes",
        )


def test_start_needs_an_offset_and_is_stored_in_utc() -> None:
    with pytest.raises(RuleViolation) as refused:
        check_start(datetime(2026, 6, 2, 10, 0))
    assert refused.value.field == "start_at"
    paris = datetime(2026, 6, 2, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert check_start(paris) == START
    assert check_start(paris).tzinfo is UTC
    fixed = datetime(2026, 6, 2, 5, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert check_start(fixed) == START


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Annual check", "Annual check"),
        ("  Annual \n\t check  ", "Annual check"),
        ("x" * MAX_TITLE_LENGTH, "x" * MAX_TITLE_LENGTH),
        ("", None),
        ("   \n ", None),
        ("x" * (MAX_TITLE_LENGTH + 1), None),
    ],
)
def test_title_rules(raw: str, expected: str | None) -> None:
    if expected is not None:
        assert check_title(raw) == expected
    else:
        with pytest.raises(RuleViolation) as refused:
            check_title(raw)
        assert refused.value.field == "title"


# --------------------------------------------------------------------------- local days


@pytest.mark.parametrize(
    ("zone", "day", "hours", "start_utc"),
    [
        # Europe/London: clocks go forward at 01:00 GMT on 29 March 2026 (23 h) and back at
        # 01:00 GMT on 25 October 2026 (25 h).
        ("Europe/London", date(2026, 3, 28), 24, datetime(2026, 3, 28, 0, 0, tzinfo=UTC)),
        ("Europe/London", date(2026, 3, 29), 23, datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
        ("Europe/London", date(2026, 3, 30), 24, datetime(2026, 3, 29, 23, 0, tzinfo=UTC)),
        ("Europe/London", date(2026, 10, 24), 24, datetime(2026, 10, 23, 23, 0, tzinfo=UTC)),
        ("Europe/London", date(2026, 10, 25), 25, datetime(2026, 10, 24, 23, 0, tzinfo=UTC)),
        ("Europe/London", date(2026, 10, 26), 24, datetime(2026, 10, 26, 0, 0, tzinfo=UTC)),
        ("Europe/London", date(2026, 7, 1), 24, datetime(2026, 6, 30, 23, 0, tzinfo=UTC)),
        # America/New_York: 8 March 2026 (23 h) and 1 November 2026 (25 h).
        ("America/New_York", date(2026, 3, 8), 23, datetime(2026, 3, 8, 5, 0, tzinfo=UTC)),
        ("America/New_York", date(2026, 3, 9), 24, datetime(2026, 3, 9, 4, 0, tzinfo=UTC)),
        ("America/New_York", date(2026, 11, 1), 25, datetime(2026, 11, 1, 4, 0, tzinfo=UTC)),
        ("America/New_York", date(2026, 11, 2), 24, datetime(2026, 11, 2, 5, 0, tzinfo=UTC)),
        ("UTC", date(2026, 10, 25), 24, datetime(2026, 10, 25, 0, 0, tzinfo=UTC)),
        # The southern hemisphere: Sydney goes back on 5 April 2026 (25 h).
        ("Australia/Sydney", date(2026, 4, 5), 25, datetime(2026, 4, 4, 13, 0, tzinfo=UTC)),
    ],
)
def test_local_day_bounds_follow_the_wall_clock(
    zone: str, day: date, hours: int, start_utc: datetime
) -> None:
    start, end = local_day_bounds(day, zone)
    assert start == start_utc
    assert end - start == timedelta(hours=hours)
    assert start.utcoffset() == end.utcoffset() == timedelta(0)
    # Both bounds are local midnights, of this day and the next.
    local = ZoneInfo(zone)
    assert start.astimezone(local).replace(tzinfo=None) == datetime.combine(
        day, datetime.min.time()
    )
    assert end.astimezone(local).replace(tzinfo=None) == datetime.combine(
        day + timedelta(days=1), datetime.min.time()
    )


def test_consecutive_local_days_tile_the_timeline() -> None:
    """No gap and no overlap between days, across both London changes of 2026."""
    day = date(2026, 3, 1)
    previous_end = local_day_bounds(day, "Europe/London")[0]
    total = timedelta(0)
    while day < date(2027, 1, 1):
        start, end = local_day_bounds(day, "Europe/London")
        assert start == previous_end
        total += end - start
        previous_end = end
        day += timedelta(days=1)
    assert total == timedelta(days=(date(2027, 1, 1) - date(2026, 3, 1)).days)


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        # 00:30 and 23:30 local on London's 25-hour day.
        (datetime(2026, 10, 24, 23, 30, tzinfo=UTC), "Europe/London", date(2026, 10, 25)),
        (datetime(2026, 10, 25, 23, 30, tzinfo=UTC), "Europe/London", date(2026, 10, 25)),
        (datetime(2026, 10, 26, 0, 0, tzinfo=UTC), "Europe/London", date(2026, 10, 26)),
        (datetime(2026, 10, 24, 22, 59, tzinfo=UTC), "Europe/London", date(2026, 10, 24)),
        (datetime(2026, 6, 1, 3, 0, tzinfo=UTC), "America/New_York", date(2026, 5, 31)),
        (datetime(2026, 6, 1, 4, 0, tzinfo=UTC), "America/New_York", date(2026, 6, 1)),
    ],
)
def test_local_today(moment: datetime, zone: str, expected: date) -> None:
    assert local_today(moment, zone) == expected
    start, end = local_day_bounds(expected, zone)
    assert start <= moment < end
