"""Medical records: the aggregate, its rules, and its event-sourced history.

A record is never overwritten or deleted. Every change appends an event (created,
amended, signed, entered_in_error) with the full snapshot after it; the current record is
the last snapshot. Events carry contiguous versions from 1.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from vetchart.domain.commands import UNSET, Unset, given, sent_null
from vetchart.domain.errors import Conflict, RuleViolation
from vetchart.domain.events import DomainEvent


class RecordType(enum.StrEnum):
    CHECKUP = "checkup"
    VACCINATION = "vaccination"
    SURGERY = "surgery"
    DIAGNOSTIC = "diagnostic"
    PRESCRIPTION = "prescription"
    DENTAL = "dental"
    EMERGENCY = "emergency"
    OTHER = "other"


class RecordStatus(enum.StrEnum):
    ACTIVE = "active"
    ENTERED_IN_ERROR = "entered_in_error"


class EventType(enum.StrEnum):
    CREATED = "created"
    AMENDED = "amended"
    SIGNED = "signed"
    ENTERED_IN_ERROR = "entered_in_error"


# The clinical content: what a create sets and an amendment may change.
CONTENT_FIELDS = (
    "record_type",
    "title",
    "description",
    "visit_date",
    "diagnosis",
    "treatment",
    "medications",
    "weight_kg",
    "temperature_c",
    "cost",
    "follow_up_required",
    "follow_up_date",
    "data",
)

# Fields that always have a value (an amendment may change them, not clear them).
REQUIRED_CONTENT = ("record_type", "title", "visit_date", "follow_up_required", "data")

# The stored precision of the decimal fields (the scales of their NUMERIC columns). Content
# is kept at exactly this precision, so a record reads the same (to the digit) when just
# created or amended, read back from the projection, or rebuilt from an event's snapshot.
DECIMAL_PLACES = {"weight_kg": 3, "temperature_c": 1, "cost": 2}

GENERAL_WEIGHT_KG = (Decimal("0"), Decimal("1500"))  # exclusive lower, inclusive upper
GENERAL_TEMPERATURE_C = (Decimal("30"), Decimal("45"))


@dataclass(frozen=True)
class VitalRanges:
    weight_kg: tuple[Decimal, Decimal]
    temperature_c: tuple[Decimal, Decimal]


def _r(w: tuple[str, str], t: tuple[str, str]) -> VitalRanges:
    return VitalRanges((Decimal(w[0]), Decimal(w[1])), (Decimal(t[0]), Decimal(t[1])))


# Plausible ranges per species (adult and young animals alike; generous on purpose: they
# catch unit mistakes such as grams for kilograms or Fahrenheit for Celsius).
SPECIES_VITALS: dict[str, VitalRanges] = {
    "dog": _r(("0.3", "110"), ("35", "42.5")),
    "cat": _r(("0.1", "15"), ("35", "42")),
    "rabbit": _r(("0.05", "10"), ("36", "41.5")),
    "ferret": _r(("0.3", "3"), ("36.5", "41")),
    "guinea pig": _r(("0.05", "2"), ("36.5", "40.5")),
    "hamster": _r(("0.02", "0.25"), ("35", "39.5")),
    "horse": _r(("20", "1500"), ("36", "40.5")),
    "cow": _r(("20", "1500"), ("37", "41.5")),
    "goat": _r(("1", "140"), ("37.5", "41.5")),
    "sheep": _r(("1", "180"), ("37.5", "41.5")),
    "pig": _r(("0.5", "400"), ("37.5", "41")),
    "bird": _r(("0.005", "25"), ("38", "44.5")),
    "parrot": _r(("0.01", "2"), ("38", "44")),
    "chicken": _r(("0.03", "6"), ("40", "43.5")),
}


def vital_ranges(species: str) -> VitalRanges:
    return SPECIES_VITALS.get(
        species.strip().lower(), VitalRanges(GENERAL_WEIGHT_KG, GENERAL_TEMPERATURE_C)
    )


@dataclass(frozen=True)
class PetFacts:
    """What the rules need to know about the pet."""

    id: UUID
    species: str
    date_of_birth: date | None
    is_active: bool


@dataclass(frozen=True)
class RecordContent:
    record_type: RecordType
    title: str
    visit_date: date
    description: str | None = None
    diagnosis: str | None = None
    treatment: str | None = None
    medications: str | None = None
    weight_kg: Decimal | None = None
    temperature_c: Decimal | None = None
    cost: Decimal | None = None
    follow_up_required: bool = False
    follow_up_date: date | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RecordChanges:
    """An amendment (``PATCH /medical-records/{id}``): the content fields to change
    (``UNSET`` leaves one as it is; the required ones cannot be cleared), and the reason a
    late amendment needs."""

    record_type: RecordType | Unset = UNSET
    title: str | Unset = UNSET
    visit_date: date | Unset = UNSET
    description: str | Unset | None = UNSET
    diagnosis: str | Unset | None = UNSET
    treatment: str | Unset | None = UNSET
    medications: str | Unset | None = UNSET
    weight_kg: Decimal | Unset | None = UNSET
    temperature_c: Decimal | Unset | None = UNSET
    cost: Decimal | Unset | None = UNSET
    follow_up_required: bool | Unset = UNSET
    follow_up_date: date | Unset | None = UNSET
    data: dict[str, Any] | Unset = UNSET
    amendment_reason: str | None = None

    def __post_init__(self) -> None:
        for name in REQUIRED_CONTENT:
            if sent_null(self, name):
                raise _fail(f"{name} cannot be removed.", f"{name}_required", name)

    def content(self) -> dict[str, Any]:
        """The content fields sent."""
        values = given(self)
        values.pop("amendment_reason")
        return values


def normalised(content: RecordContent) -> RecordContent:
    """The content with its decimals at the stored precision (as the database keeps them)."""
    changes: dict[str, Any] = {}
    for name, places in DECIMAL_PLACES.items():
        value = getattr(content, name)
        if value is None:
            continue
        try:
            stored = value.quantize(Decimal(1).scaleb(-places))
        except InvalidOperation:  # too large to store: left for the rules to refuse
            continue
        if str(stored) != str(value):
            changes[name] = stored
    return replace(content, **changes) if changes else content


def _fail(detail: str, rule: str, field_name: str) -> RuleViolation:
    return RuleViolation(detail, rule=f"medical_record.{rule}", field=field_name)


_VITAL_UNITS = {"weight": ("weight_kg", "kg"), "temperature": ("temperature_c", "°C")}


def _check_plausible(
    vital: str, value: Decimal, bounds: tuple[Decimal, Decimal], species: str
) -> None:
    """A vital sign within the species' plausible range (``SPECIES_VITALS``)."""
    field_name, unit = _VITAL_UNITS[vital]
    low, high = bounds
    if not low <= value <= high:
        raise _fail(
            f"{field_name} {value} is implausible for a {species} (expected {low}-{high} {unit}).",
            f"{vital}_implausible_for_species",
            field_name,
        )


def check_content(content: RecordContent, pet: PetFacts, *, today: date) -> None:
    """Every business rule of a record's content; the first broken one is raised."""
    if not content.title.strip():
        raise _fail("The title is required.", "title_required", "title")
    if content.visit_date > today:
        raise _fail("The visit date cannot be in the future.", "visit_date_in_future", "visit_date")
    if pet.date_of_birth is not None and content.visit_date < pet.date_of_birth:
        raise _fail(
            "The visit date cannot be before the pet's birth.",
            "visit_date_before_birth",
            "visit_date",
        )
    if content.follow_up_required:
        if content.follow_up_date is None:
            raise _fail(
                "A follow-up needs a follow-up date.", "follow_up_date_required", "follow_up_date"
            )
        if content.follow_up_date <= content.visit_date:
            raise _fail(
                "The follow-up date must be after the visit date.",
                "follow_up_date_not_after_visit",
                "follow_up_date",
            )
    ranges = vital_ranges(pet.species)
    if content.weight_kg is not None:
        low, high = GENERAL_WEIGHT_KG
        if not low < content.weight_kg <= high:
            raise _fail(
                f"weight_kg must be above {low} and at most {high}.",
                "weight_out_of_range",
                "weight_kg",
            )
        _check_plausible("weight", content.weight_kg, ranges.weight_kg, pet.species)
    if content.temperature_c is not None:
        low, high = GENERAL_TEMPERATURE_C
        if not low <= content.temperature_c <= high:
            raise _fail(
                f"temperature_c must be between {low} and {high} °C.",
                "temperature_out_of_range",
                "temperature_c",
            )
        _check_plausible("temperature", content.temperature_c, ranges.temperature_c, pet.species)
    if content.cost is not None and content.cost < 0:
        raise _fail("The cost cannot be negative.", "cost_negative", "cost")
    if content.record_type is RecordType.VACCINATION:
        name = content.data.get("vaccine_name")
        if not isinstance(name, str) or not name.strip():
            raise _fail(
                "A vaccination needs data.vaccine_name.",
                "vaccine_name_required",
                "data.vaccine_name",
            )
        _check_next_due(content.data.get("next_due", None), content.visit_date)
    if content.record_type is RecordType.PRESCRIPTION and not (content.medications or "").strip():
        raise _fail("A prescription needs medications.", "medications_required", "medications")


def _check_next_due(value: object, visit_date: date) -> None:
    """``data.next_due`` of a vaccination, when present: an ISO date (``YYYY-MM-DD``) on or
    after the visit (the reminders are scheduled from it, services/reminders.py)."""
    if value is None:
        return
    due = parse_next_due(value)
    if due is None:
        raise _fail(
            "data.next_due must be a date (YYYY-MM-DD).", "next_due_invalid", "data.next_due"
        )
    if due < visit_date:
        raise _fail(
            "data.next_due cannot be before the visit date.",
            "next_due_before_visit",
            "data.next_due",
        )


def parse_next_due(value: object) -> date | None:
    """A vaccination's ``data.next_due`` as a date, or None when it is not a valid one."""
    if not isinstance(value, str) or len(value) != len("YYYY-MM-DD"):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


# --------------------------------------------------------------------------- snapshots


def _to_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def content_snapshot(content: RecordContent) -> dict[str, Any]:
    return {f.name: _to_json(getattr(content, f.name)) for f in fields(content)}


def content_from_snapshot(snapshot: dict[str, Any]) -> RecordContent:
    def dec(key: str) -> Decimal | None:
        value = snapshot.get(key)
        try:
            return None if value is None else Decimal(str(value))
        except InvalidOperation as error:  # pragma: no cover - snapshots are ours
            raise ValueError(f"bad decimal in snapshot: {key}") from error

    def day(key: str) -> date | None:
        value = snapshot.get(key)
        return None if value is None else date.fromisoformat(value)

    visit = day("visit_date")
    assert visit is not None
    return RecordContent(
        record_type=RecordType(snapshot["record_type"]),
        title=snapshot["title"],
        visit_date=visit,
        description=snapshot.get("description"),
        diagnosis=snapshot.get("diagnosis"),
        treatment=snapshot.get("treatment"),
        medications=snapshot.get("medications"),
        weight_kg=dec("weight_kg"),
        temperature_c=dec("temperature_c"),
        cost=dec("cost"),
        follow_up_required=bool(snapshot.get("follow_up_required", False)),
        follow_up_date=day("follow_up_date"),
        data=dict(snapshot.get("data") or {}),
    )


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class RecordEvent:
    """One row of the append-only history (the source of truth)."""

    record_id: UUID
    version: int
    event_type: EventType
    changed_fields: tuple[str, ...]
    snapshot: dict[str, Any]  # the full record after this event
    actor_id: UUID
    practice_id: UUID
    reason: str | None
    late: bool
    recorded_at: datetime


@dataclass(frozen=True, kw_only=True)
class MedicalRecordCreated(DomainEvent):
    record_id: UUID
    pet_id: UUID
    practice_id: UUID
    actor_id: UUID


@dataclass(frozen=True, kw_only=True)
class MedicalRecordAmended(DomainEvent):
    record_id: UUID
    pet_id: UUID
    practice_id: UUID
    actor_id: UUID
    version: int
    changed_fields: tuple[str, ...]
    late: bool


@dataclass(frozen=True, kw_only=True)
class MedicalRecordSigned(DomainEvent):
    record_id: UUID
    pet_id: UUID
    practice_id: UUID
    actor_id: UUID


@dataclass(frozen=True, kw_only=True)
class MedicalRecordEnteredInError(DomainEvent):
    record_id: UUID
    pet_id: UUID
    practice_id: UUID
    actor_id: UUID


# --------------------------------------------------------------------------- aggregate


@dataclass
class MedicalRecord:
    id: UUID
    pet_id: UUID
    practice_id: UUID
    author_id: UUID
    content: RecordContent
    version: int
    status: RecordStatus
    created_at: datetime
    updated_at: datetime
    signed_at: datetime | None = None
    signed_by: UUID | None = None
    entered_in_error_reason: str | None = None
    new_events: list[RecordEvent] = field(default_factory=list, repr=False)
    domain_events: list[DomainEvent] = field(default_factory=list, repr=False)

    # ---- reading

    def finalised_at(self, auto_finalise_after: timedelta) -> datetime:
        """Signed, or automatically once the period has passed (computed, never late)."""
        automatic = self.created_at + auto_finalise_after
        if self.signed_at is not None and self.signed_at < automatic:
            return self.signed_at
        return automatic

    def is_finalised(self, now: datetime, auto_finalise_after: timedelta) -> bool:
        return now >= self.finalised_at(auto_finalise_after)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "pet_id": str(self.pet_id),
            "practice_id": str(self.practice_id),
            "author_id": str(self.author_id),
            **content_snapshot(self.content),
            "version": self.version,
            "status": self.status.value,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "signed_at": _to_json(self.signed_at),
            "signed_by": _to_json(self.signed_by),
            "entered_in_error_reason": self.entered_in_error_reason,
        }

    # ---- changing

    @classmethod
    def create(
        cls,
        *,
        record_id: UUID,
        pet: PetFacts,
        practice_id: UUID,
        author_id: UUID,
        content: RecordContent,
        now: datetime,
    ) -> MedicalRecord:
        if not pet.is_active:
            raise RuleViolation(
                "No new records on a deactivated pet.",
                rule="medical_record.pet_inactive",
                field="pet_id",
            )
        content = normalised(content)
        check_content(content, pet, today=now.date())
        record = cls(
            id=record_id,
            pet_id=pet.id,
            practice_id=practice_id,
            author_id=author_id,
            content=content,
            version=1,
            status=RecordStatus.ACTIVE,
            created_at=now,
            updated_at=now,
        )
        record._append(EventType.CREATED, CONTENT_FIELDS, author_id, None, False, now)
        record.domain_events.append(
            MedicalRecordCreated(
                record_id=record.id, pet_id=pet.id, practice_id=practice_id, actor_id=author_id
            )
        )
        return record

    def amend(
        self,
        *,
        changes: RecordChanges,
        pet: PetFacts,
        actor_id: UUID,
        now: datetime,
        auto_finalise_after: timedelta,
    ) -> bool:
        """Apply changes as a new version; False (and no version) when nothing changes."""
        self._require_active()
        reason = changes.amendment_reason
        new_content = normalised(replace(self.content, **changes.content()))
        changed = tuple(
            name
            for name in CONTENT_FIELDS
            if getattr(new_content, name) != getattr(self.content, name)
        )
        if not changed:
            return False
        late = self.is_finalised(now, auto_finalise_after)
        if late and not (reason or "").strip():
            raise RuleViolation(
                "The record is finalised: an amendment needs an amendment_reason "
                "(it is recorded as a late amendment).",
                rule="medical_record.amendment_reason_required",
                field="amendment_reason",
            )
        check_content(new_content, pet, today=now.date())
        self.content = new_content
        self.version += 1
        self.updated_at = now
        self._append(EventType.AMENDED, changed, actor_id, reason, late, now)
        self.domain_events.append(
            MedicalRecordAmended(
                record_id=self.id,
                pet_id=self.pet_id,
                practice_id=self.practice_id,
                actor_id=actor_id,
                version=self.version,
                changed_fields=changed,
                late=late,
            )
        )
        return True

    def sign(self, *, actor_id: UUID, now: datetime) -> None:
        self._require_active()
        if self.signed_at is not None:
            raise Conflict("The record is already signed.", code="already-signed")
        self.signed_at = now
        self.signed_by = actor_id
        self.version += 1
        self.updated_at = now
        self._append(EventType.SIGNED, ("signed_at", "signed_by"), actor_id, None, False, now)
        self.domain_events.append(
            MedicalRecordSigned(
                record_id=self.id,
                pet_id=self.pet_id,
                practice_id=self.practice_id,
                actor_id=actor_id,
            )
        )

    def mark_entered_in_error(self, *, actor_id: UUID, reason: str, now: datetime) -> None:
        self._require_active()
        if not reason.strip():
            raise RuleViolation(
                "A reason is required.", rule="medical_record.reason_required", field="reason"
            )
        self.status = RecordStatus.ENTERED_IN_ERROR
        self.entered_in_error_reason = reason.strip()
        self.version += 1
        self.updated_at = now
        self._append(EventType.ENTERED_IN_ERROR, ("status",), actor_id, reason.strip(), False, now)
        self.domain_events.append(
            MedicalRecordEnteredInError(
                record_id=self.id,
                pet_id=self.pet_id,
                practice_id=self.practice_id,
                actor_id=actor_id,
            )
        )

    def _require_active(self) -> None:
        if self.status is RecordStatus.ENTERED_IN_ERROR:
            raise Conflict(
                "The record was entered in error; it can no longer change.", code="entered-in-error"
            )

    def _append(
        self,
        event_type: EventType,
        changed: tuple[str, ...],
        actor_id: UUID,
        reason: str | None,
        late: bool,
        now: datetime,
    ) -> None:
        self.new_events.append(
            RecordEvent(
                record_id=self.id,
                version=self.version,
                event_type=event_type,
                changed_fields=changed,
                snapshot=self.snapshot(),
                actor_id=actor_id,
                practice_id=self.practice_id,
                reason=(reason or None) and reason.strip(),
                late=late,
                recorded_at=now,
            )
        )


def record_from_snapshot(snapshot: dict[str, Any]) -> MedicalRecord:
    """Rebuild the record as it stood after an event (history, versions, as-of)."""

    def when(key: str) -> datetime | None:
        value = snapshot.get(key)
        return None if value is None else datetime.fromisoformat(value)

    created, updated = when("created_at"), when("updated_at")
    assert created is not None
    assert updated is not None
    signed_by = snapshot.get("signed_by")
    return MedicalRecord(
        id=UUID(snapshot["id"]),
        pet_id=UUID(snapshot["pet_id"]),
        practice_id=UUID(snapshot["practice_id"]),
        author_id=UUID(snapshot["author_id"]),
        content=content_from_snapshot(snapshot),
        version=int(snapshot["version"]),
        status=RecordStatus(snapshot["status"]),
        created_at=created,
        updated_at=updated,
        signed_at=when("signed_at"),
        signed_by=UUID(signed_by) if signed_by else None,
        entered_in_error_reason=snapshot.get("entered_in_error_reason"),
    )
