"""The medical-record aggregate (vetchart.domain.records): its rules, its species vitals,
finalisation, and its event-sourced history, without a database.

The property tests drive a record through random sequences of valid amendments and check
that the history it appends is a faithful event log: contiguous versions from 1, each
event's snapshot is the record exactly as it stood right after that step, the last one is
the current record, and a record rebuilt from any snapshot is that step's record.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vetchart.domain.errors import Conflict, RuleViolation
from vetchart.domain.records import (
    CONTENT_FIELDS,
    GENERAL_TEMPERATURE_C,
    GENERAL_WEIGHT_KG,
    EventType,
    MedicalRecord,
    MedicalRecordAmended,
    MedicalRecordCreated,
    MedicalRecordEnteredInError,
    MedicalRecordSigned,
    PetFacts,
    RecordChanges,
    RecordContent,
    RecordStatus,
    RecordType,
    check_content,
    content_from_snapshot,
    content_snapshot,
    record_from_snapshot,
    vital_ranges,
)

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
BIRTH = date(2015, 3, 10)
PERIOD = timedelta(hours=24)
PRACTICE = uuid.UUID("0190a000-0000-7000-8000-000000000001")
OTHER_PRACTICE = uuid.UUID("0190a000-0000-7000-8000-000000000002")
AUTHOR = uuid.UUID("0190a000-0000-7000-8000-0000000000a1")
OTHER_USER = uuid.UUID("0190a000-0000-7000-8000-0000000000a2")
DOG = PetFacts(uuid.UUID("0190a000-0000-7000-8000-0000000000d0"), "dog", BIRTH, True)


def content(**overrides: Any) -> RecordContent:
    """A valid dog check-up; overrides replace fields."""
    values: dict[str, Any] = {
        "record_type": RecordType.CHECKUP,
        "title": "Annual check-up",
        "visit_date": TODAY - timedelta(days=3),
        "weight_kg": Decimal("24.5"),
        "temperature_c": Decimal("38.6"),
        "cost": Decimal("45.00"),
    }
    values.update(overrides)
    return RecordContent(**values)


def new_record(
    pet: PetFacts = DOG, *, now: datetime = NOW, author: UUID = AUTHOR, **overrides: Any
) -> MedicalRecord:
    return MedicalRecord.create(
        record_id=uuid.uuid4(),
        pet=pet,
        practice_id=PRACTICE,
        author_id=author,
        content=content(**overrides),
        now=now,
    )


def amend(
    record: MedicalRecord,
    changes: dict[str, Any],
    *,
    now: datetime = NOW,
    reason: str | None = None,
    pet: PetFacts = DOG,
    actor: UUID = AUTHOR,
) -> bool:
    return record.amend(
        changes=RecordChanges(**changes, amendment_reason=reason),
        pet=pet,
        actor_id=actor,
        now=now,
        auto_finalise_after=PERIOD,
    )


def rule_of(error: pytest.ExceptionInfo[RuleViolation]) -> tuple[str, str | None]:
    return error.value.rule, error.value.field


# =========================================================================== properties

TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40
).filter(lambda s: s.strip() != "")
DOG_WEIGHT = st.decimals(
    min_value=Decimal("0.3"), max_value=Decimal("110"), places=3, allow_nan=False
)
DOG_TEMPERATURE = st.decimals(
    min_value=Decimal("35"), max_value=Decimal("42.5"), places=1, allow_nan=False
)
COST = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999.99"), places=2)
PLAIN_TYPES = [t for t in RecordType if t not in (RecordType.VACCINATION, RecordType.PRESCRIPTION)]
VISIT_DATES = st.dates(min_value=BIRTH, max_value=TODAY)


@st.composite
def valid_change(draw: st.DrawFn, current: RecordContent) -> dict[str, Any]:
    """Changes to ``current`` that keep every rule (relative to the dog ``DOG``)."""
    changes: dict[str, Any] = {}
    for name in draw(st.sets(st.sampled_from(CONTENT_FIELDS), max_size=5)):
        match name:
            case "title":
                changes["title"] = draw(TEXT)
            case "description" | "diagnosis" | "treatment":
                changes[name] = draw(st.none() | TEXT)
            case "weight_kg":
                changes[name] = draw(st.none() | DOG_WEIGHT)
            case "temperature_c":
                changes[name] = draw(st.none() | DOG_TEMPERATURE)
            case "cost":
                changes[name] = draw(st.none() | COST)
            case "visit_date":
                changes[name] = draw(VISIT_DATES)
            case "follow_up_required":
                changes[name] = draw(st.booleans())
            case "record_type" | "medications" | "data" | "follow_up_date":
                pass  # kept consistent below, with the fields they depend on
    if draw(st.booleans()):
        kind = draw(st.sampled_from(list(RecordType)))
        changes["record_type"] = kind
    kind = changes.get("record_type", current.record_type)
    # Medications: any text, but never blank for a prescription.
    if draw(st.booleans()) or kind is RecordType.PRESCRIPTION:
        changes["medications"] = draw(TEXT if kind is RecordType.PRESCRIPTION else st.none() | TEXT)
    # Data: always carries a vaccine name, so a vaccination stays valid.
    if draw(st.booleans()) or kind is RecordType.VACCINATION:
        vaccine = draw(st.sampled_from(["DHPPi", "Rabies", "Leptospirosis L4"]))
        changes["data"] = {"vaccine_name": vaccine, "batch": draw(st.text(max_size=8))}
    # Follow-up: a date after the (possibly new) visit date whenever the flag is on.
    visit = changes.get("visit_date", current.visit_date)
    required = changes.get("follow_up_required", current.follow_up_required)
    if required:
        if current.follow_up_date is None or current.follow_up_date <= visit or draw(st.booleans()):
            changes["follow_up_date"] = visit + timedelta(days=draw(st.integers(1, 400)))
    elif draw(st.booleans()):
        changes["follow_up_date"] = draw(st.none() | st.dates(min_value=BIRTH))
    return changes


def no_op_change(current: RecordContent, fields: list[str]) -> dict[str, Any]:
    """The current values again (Decimals spelled differently: equal is equal)."""
    changes = {name: getattr(current, name) for name in fields}
    for name in ("weight_kg", "temperature_c", "cost"):
        if changes.get(name) is not None:
            changes[name] += Decimal("0.0000")  # 24.5 -> 24.50000
    return changes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), steps=st.integers(min_value=0, max_value=12))
def test_any_sequence_of_valid_amendments_replays_to_the_projection(
    data: st.DataObject, steps: int
) -> None:
    record = new_record()
    events = list(record.new_events)
    after_each = [record.snapshot()]  # the record right after each event
    now = NOW
    for _ in range(steps):
        now += timedelta(minutes=data.draw(st.integers(1, 600), label="minutes later"))
        before = record.snapshot()
        old_content = record.content
        if data.draw(st.integers(0, 4), label="no-op?") == 0:
            fields = data.draw(st.lists(st.sampled_from(CONTENT_FIELDS), unique=True))
            changed = amend(record, no_op_change(old_content, fields), now=now)
            assert changed is False
            assert record.snapshot() == before
            assert record.new_events == events  # nothing appended
            continue
        changes = data.draw(valid_change(old_content), label="changes")
        expected = replace(old_content, **changes)
        check_content(expected, DOG, today=now.date())  # the generator keeps the rules
        finalised = now >= NOW + PERIOD
        reason = data.draw(st.none() | TEXT, label="reason")
        if finalised and reason is None and expected != old_content:
            with pytest.raises(RuleViolation) as refused:
                amend(record, changes, now=now, reason=reason)
            assert rule_of(refused) == (
                "medical_record.amendment_reason_required",
                "amendment_reason",
            )
            assert record.snapshot() == before
            assert record.new_events == events
            continue
        changed = amend(record, changes, now=now, reason=reason)
        assert changed is (expected != old_content)
        assert record.content == expected
        if not changed:
            assert record.snapshot() == before
            assert record.new_events == events
            continue
        event = record.new_events[-1]
        events.append(event)
        assert record.new_events == events
        after_each.append(record.snapshot())
        assert event.event_type is EventType.AMENDED
        assert event.version == record.version == len(events)
        assert event.recorded_at == now == record.updated_at
        assert event.late is finalised
        assert event.reason == (reason.strip() if reason else None)
        assert set(event.changed_fields) == {
            name for name in CONTENT_FIELDS if getattr(expected, name) != getattr(old_content, name)
        }
        assert isinstance(record.domain_events[-1], MedicalRecordAmended)
        assert record.domain_events[-1].version == record.version

    assert [e.version for e in events] == list(range(1, len(events) + 1))
    assert events[0].event_type is EventType.CREATED
    assert events[-1].snapshot == record.snapshot()
    for event, expected_snapshot in zip(events, after_each, strict=True):
        assert event.snapshot == expected_snapshot
        assert record_from_snapshot(event.snapshot).snapshot() == expected_snapshot
    # The current record rebuilt from the last event is the record.
    rebuilt = record_from_snapshot(events[-1].snapshot)
    assert rebuilt.content == record.content
    assert (rebuilt.version, rebuilt.status, rebuilt.updated_at) == (
        record.version,
        record.status,
        record.updated_at,
    )
    assert len(record.domain_events) == len(events)  # one created + one per amendment


@settings(max_examples=100, deadline=None)
@given(
    title=TEXT,
    weight=st.none() | DOG_WEIGHT,
    temperature=st.none() | DOG_TEMPERATURE,
    cost=st.none() | COST,
    visit=VISIT_DATES,
    kind=st.sampled_from(PLAIN_TYPES),
    extra=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)
def test_content_survives_its_snapshot(
    title: str,
    weight: Decimal | None,
    temperature: Decimal | None,
    cost: Decimal | None,
    visit: date,
    kind: RecordType,
    extra: dict[str, Any],
) -> None:
    value = content(
        record_type=kind,
        title=title,
        weight_kg=weight,
        temperature_c=temperature,
        cost=cost,
        visit_date=visit,
        data=extra,
    )
    assert content_from_snapshot(content_snapshot(value)) == value


def test_a_no_op_amendment_adds_no_version_and_no_event() -> None:
    record = new_record()
    events = list(record.new_events)
    same = {"title": "Annual check-up", "weight_kg": Decimal("24.500"), "cost": Decimal("45")}
    assert amend(record, same) is False
    assert amend(record, {}) is False
    assert record.version == 1
    assert record.new_events == events
    assert [type(e) for e in record.domain_events] == [MedicalRecordCreated]
    # Even after finalisation, a no-op needs no reason (there is nothing to explain).
    assert amend(record, same, now=NOW + PERIOD * 2) is False


def test_decimals_are_kept_at_the_stored_precision() -> None:
    """As the NUMERIC columns keep them: the record reads the same when just created,
    read back from the projection or rebuilt from a snapshot."""
    record = new_record(weight_kg=Decimal("20.5"), temperature_c=Decimal("38"), cost=Decimal("45"))
    snapshot = record.snapshot()
    assert (snapshot["weight_kg"], snapshot["temperature_c"], snapshot["cost"]) == (
        "20.500",
        "38.0",
        "45.00",
    )
    assert amend(record, {"weight_kg": Decimal("20.50000")}) is False
    assert amend(record, {"weight_kg": Decimal("21.25")}) is True
    assert record.snapshot()["weight_kg"] == "21.250"
    assert record.new_events[-1].snapshot["weight_kg"] == "21.250"


# =========================================================================== rules

RULE_CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    # rule, field, failing content overrides, passing content overrides
    ("title_required", "title", {"title": "   "}, {"title": "T"}),
    (
        "visit_date_in_future",
        "visit_date",
        {"visit_date": TODAY + timedelta(days=1)},
        {"visit_date": TODAY},
    ),
    (
        "visit_date_before_birth",
        "visit_date",
        {"visit_date": BIRTH - timedelta(days=1)},
        {"visit_date": BIRTH},
    ),
    (
        "follow_up_date_required",
        "follow_up_date",
        {"follow_up_required": True, "follow_up_date": None},
        {"follow_up_required": True, "follow_up_date": TODAY + timedelta(days=14)},
    ),
    (
        "follow_up_date_not_after_visit",
        "follow_up_date",
        {"follow_up_required": True, "visit_date": TODAY, "follow_up_date": TODAY},
        {"follow_up_required": True, "visit_date": TODAY, "follow_up_date": TODAY + timedelta(1)},
    ),
    ("weight_out_of_range", "weight_kg", {"weight_kg": Decimal("0")}, {"weight_kg": Decimal("1")}),
    (
        "weight_out_of_range",
        "weight_kg",
        {"weight_kg": Decimal("-3")},
        {"weight_kg": Decimal("110")},
    ),
    (
        "weight_out_of_range",
        "weight_kg",
        {"weight_kg": Decimal("1500.001")},
        {"weight_kg": Decimal("0.3")},
    ),
    (
        "weight_implausible_for_species",
        "weight_kg",
        {"weight_kg": Decimal("450")},  # fine for a horse, not for a dog
        {"weight_kg": Decimal("45")},
    ),
    (
        "temperature_out_of_range",
        "temperature_c",
        {"temperature_c": Decimal("29.9")},
        {"temperature_c": Decimal("35")},
    ),
    (
        "temperature_out_of_range",
        "temperature_c",
        {"temperature_c": Decimal("45.1")},
        {"temperature_c": Decimal("42.5")},
    ),
    (
        "temperature_implausible_for_species",
        "temperature_c",
        {"temperature_c": Decimal("44")},  # fine for a bird, not for a dog
        {"temperature_c": Decimal("39")},
    ),
    ("cost_negative", "cost", {"cost": Decimal("-0.01")}, {"cost": Decimal("0")}),
    (
        "vaccine_name_required",
        "data.vaccine_name",
        {"record_type": RecordType.VACCINATION, "data": {"batch": "A1"}},
        {"record_type": RecordType.VACCINATION, "data": {"vaccine_name": "Rabies"}},
    ),
    (
        "vaccine_name_required",
        "data.vaccine_name",
        {"record_type": RecordType.VACCINATION, "data": {"vaccine_name": "  "}},
        {"record_type": RecordType.VACCINATION, "data": {"vaccine_name": "DHPPi", "n": 2}},
    ),
    (
        "medications_required",
        "medications",
        {"record_type": RecordType.PRESCRIPTION, "medications": " "},
        {"record_type": RecordType.PRESCRIPTION, "medications": "Meloxicam 1.5 mg/ml"},
    ),
]


@pytest.mark.parametrize(
    ("rule", "field", "failing", "passing"),
    RULE_CASES,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(RULE_CASES)],
)
def test_each_rule_of_check_content(
    rule: str, field: str, failing: dict[str, Any], passing: dict[str, Any]
) -> None:
    with pytest.raises(RuleViolation) as refused:
        check_content(content(**failing), DOG, today=TODAY)
    assert rule_of(refused) == (f"medical_record.{rule}", field)
    assert refused.value.extra["rule"] == f"medical_record.{rule}"
    assert refused.value.extra["field"] == field
    check_content(content(**passing), DOG, today=TODAY)


def test_the_same_rules_apply_to_amendments_and_change_nothing() -> None:
    record = new_record()
    snapshot = record.snapshot()
    for rule, field, failing, _ in RULE_CASES:
        with pytest.raises(RuleViolation) as refused:
            amend(record, failing)
        assert rule_of(refused) == (f"medical_record.{rule}", field)
        assert record.snapshot() == snapshot
        assert len(record.new_events) == 1


def test_no_record_on_a_deactivated_pet_and_no_unknown_or_cleared_fields() -> None:
    inactive = replace(DOG, is_active=False)
    with pytest.raises(RuleViolation) as refused:
        new_record(inactive)
    assert rule_of(refused) == ("medical_record.pet_inactive", "pet_id")
    new_record(DOG)

    record = new_record()
    with pytest.raises(TypeError, match="author_id"):  # not a field of an amendment
        amend(record, {"author_id": OTHER_USER})
    with pytest.raises(RuleViolation) as refused:
        amend(record, {"visit_date": None})
    assert rule_of(refused) == ("medical_record.visit_date_required", "visit_date")
    # A deactivated pet's existing records may still be amended.
    assert amend(record, {"diagnosis": "Otitis externa"}, pet=inactive) is True


# =========================================================================== species


@pytest.mark.parametrize(
    ("species", "weight_ok", "weight_bad", "temperature_ok", "temperature_bad", "rule"),
    [
        ("dog", "30", "150", "38.5", "43", "implausible_for_species"),
        ("cat", "4.2", "20", "38.6", "42.5", "implausible_for_species"),
        ("Cat ", "0.1", "0.09", "35", "34.9", "implausible_for_species"),  # case, spaces
        ("horse", "500", "19", "37.8", "41", "implausible_for_species"),
        ("bird", "0.005", "30", "44.5", "37.9", "implausible_for_species"),
        # An unknown species: only the general bounds (0 < w <= 1500, 30-45 °C).
        ("axolotl", "1500", "1500.001", "30", "45.1", "out_of_range"),
        ("axolotl", "0.001", "0", "45", "29.9", "out_of_range"),
    ],
)
def test_species_vitals(
    species: str,
    weight_ok: str,
    weight_bad: str,
    temperature_ok: str,
    temperature_bad: str,
    rule: str,
) -> None:
    pet = replace(DOG, species=species)

    def vitals(weight: str | None, temperature: str | None) -> RecordContent:
        return content(
            weight_kg=None if weight is None else Decimal(weight),
            temperature_c=None if temperature is None else Decimal(temperature),
        )

    check_content(vitals(weight_ok, temperature_ok), pet, today=TODAY)
    with pytest.raises(RuleViolation) as refused:
        check_content(vitals(weight_bad, temperature_ok), pet, today=TODAY)
    assert rule_of(refused) == (f"medical_record.weight_{rule}", "weight_kg")
    with pytest.raises(RuleViolation) as refused:
        check_content(vitals(weight_ok, temperature_bad), pet, today=TODAY)
    assert rule_of(refused) == (f"medical_record.temperature_{rule}", "temperature_c")


def test_species_table_and_fallback() -> None:
    general = vital_ranges("axolotl")
    assert general.weight_kg == GENERAL_WEIGHT_KG
    assert general.temperature_c == GENERAL_TEMPERATURE_C
    assert vital_ranges(" DOG ") == vital_ranges("dog") != general
    for species in ("dog", "cat", "rabbit", "horse", "bird"):
        ranges = vital_ranges(species)
        assert ranges != general
        # Every species range lies inside the general bounds.
        assert GENERAL_WEIGHT_KG[0] < ranges.weight_kg[0] <= ranges.weight_kg[1]
        assert ranges.weight_kg[1] <= GENERAL_WEIGHT_KG[1]
        assert GENERAL_TEMPERATURE_C[0] <= ranges.temperature_c[0] <= ranges.temperature_c[1]
        assert ranges.temperature_c[1] <= GENERAL_TEMPERATURE_C[1]


def test_the_species_message_names_the_range() -> None:
    with pytest.raises(RuleViolation) as refused:
        check_content(content(weight_kg=Decimal("150")), DOG, today=TODAY)
    assert "0.3-110" in refused.value.detail
    assert "dog" in refused.value.detail


# =========================================================================== finalisation


def test_finalisation_is_computed_from_creation_or_signature() -> None:
    record = new_record()
    assert record.finalised_at(PERIOD) == NOW + PERIOD
    assert not record.is_finalised(NOW + PERIOD - timedelta(microseconds=1), PERIOD)
    assert record.is_finalised(NOW + PERIOD, PERIOD)
    assert record.finalised_at(timedelta(hours=2)) == NOW + timedelta(hours=2)

    signed_at = NOW + timedelta(hours=3)
    record.sign(actor_id=OTHER_USER, now=signed_at)
    assert record.finalised_at(PERIOD) == signed_at
    assert record.is_finalised(signed_at, PERIOD)
    assert not record.is_finalised(signed_at - timedelta(seconds=1), PERIOD)
    # Signed after the automatic moment: the earlier one counts.
    late_signed = new_record()
    late_signed.sign(actor_id=OTHER_USER, now=NOW + PERIOD * 3)
    assert late_signed.finalised_at(PERIOD) == NOW + PERIOD


def test_signing_is_a_version_and_only_once() -> None:
    record = new_record()
    signed_at = NOW + timedelta(hours=1)
    record.sign(actor_id=OTHER_USER, now=signed_at)
    assert (record.version, record.signed_at, record.signed_by) == (2, signed_at, OTHER_USER)
    event = record.new_events[-1]
    assert (event.version, event.event_type, event.late) == (2, EventType.SIGNED, False)
    assert event.snapshot == record.snapshot()
    assert isinstance(record.domain_events[-1], MedicalRecordSigned)
    with pytest.raises(Conflict):
        record.sign(actor_id=OTHER_USER, now=signed_at)
    assert record.version == 2


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_late_amendment_needs_a_reason(reason: str | None) -> None:
    record = new_record()
    later = NOW + PERIOD + timedelta(minutes=1)
    with pytest.raises(RuleViolation) as refused:
        amend(record, {"diagnosis": "Revised"}, now=later, reason=reason)
    assert rule_of(refused) == ("medical_record.amendment_reason_required", "amendment_reason")
    assert record.version == 1
    assert record.content.diagnosis is None


def test_a_late_amendment_with_a_reason_is_flagged_late() -> None:
    record = new_record()
    assert amend(record, {"diagnosis": "Early tidy-up"}, now=NOW + timedelta(hours=1))
    assert record.new_events[-1].late is False
    assert record.new_events[-1].reason is None
    later = NOW + PERIOD
    assert amend(record, {"diagnosis": "Revised"}, now=later, reason="  Lab results came  ")
    event = record.new_events[-1]
    assert (event.version, event.late, event.reason) == (3, True, "Lab results came")
    assert event.changed_fields == ("diagnosis",)
    domain_event = record.domain_events[-1]
    assert isinstance(domain_event, MedicalRecordAmended)
    assert domain_event.late is True
    assert domain_event.changed_fields == ("diagnosis",)


def test_after_signing_an_amendment_needs_a_reason_at_once() -> None:
    record = new_record()
    record.sign(actor_id=OTHER_USER, now=NOW + timedelta(minutes=5))
    with pytest.raises(RuleViolation) as refused:
        amend(record, {"title": "Changed"}, now=NOW + timedelta(minutes=6))
    assert refused.value.rule == "medical_record.amendment_reason_required"
    assert amend(record, {"title": "Changed"}, now=NOW + timedelta(minutes=6), reason="Typo")
    assert record.new_events[-1].late is True


# =========================================================================== entered in error


def test_entered_in_error_is_final() -> None:
    record = new_record()
    with pytest.raises(RuleViolation) as refused:
        record.mark_entered_in_error(actor_id=AUTHOR, reason="  ", now=NOW)
    assert rule_of(refused) == ("medical_record.reason_required", "reason")
    assert record.snapshot()["status"] == "active"

    record.mark_entered_in_error(actor_id=AUTHOR, reason=" Wrong pet ", now=NOW)
    assert record.snapshot()["status"] == "entered_in_error"
    assert record.status is RecordStatus.ENTERED_IN_ERROR
    assert record.entered_in_error_reason == "Wrong pet"
    event = record.new_events[-1]
    assert (event.version, event.event_type, event.reason) == (
        2,
        EventType.ENTERED_IN_ERROR,
        "Wrong pet",
    )
    assert event.changed_fields == ("status",)
    assert event.snapshot["status"] == "entered_in_error"
    assert isinstance(record.domain_events[-1], MedicalRecordEnteredInError)
    snapshot = record.snapshot()
    with pytest.raises(Conflict):
        amend(record, {"title": "Anything"})
    with pytest.raises(Conflict):
        amend(record, {})  # even a no-op
    with pytest.raises(Conflict):
        record.sign(actor_id=OTHER_USER, now=NOW)
    with pytest.raises(Conflict):
        record.mark_entered_in_error(actor_id=AUTHOR, reason="Again", now=NOW)
    assert record.snapshot() == snapshot
    assert len(record.new_events) == 2


def test_creation_event_and_domain_event() -> None:
    record = new_record()
    [event] = record.new_events
    assert (event.version, event.event_type, event.late, event.reason) == (
        1,
        EventType.CREATED,
        False,
        None,
    )
    assert event.changed_fields == CONTENT_FIELDS
    assert event.snapshot == record.snapshot()
    assert (event.actor_id, event.practice_id, event.recorded_at) == (AUTHOR, PRACTICE, NOW)
    [created] = record.domain_events
    assert isinstance(created, MedicalRecordCreated)
    assert (created.record_id, created.pet_id, created.practice_id, created.actor_id) == (
        record.id,
        DOG.id,
        PRACTICE,
        AUTHOR,
    )
