"""Appointments and visits: the status machine, time rules and the visit lifecycle.

An appointment books one VET of a practice for one or more pets of one owner, from a
timezone-aware start for a number of minutes. Its status moves only along

    scheduled -> confirmed -> checked_in -> in_progress -> completed

with ``cancelled`` (from scheduled, confirmed, checked_in) and ``no_show`` (from scheduled,
confirmed) as exits. An owner's request starts as ``requested``: staff take it to
``scheduled`` or ``confirmed``, or ``declined``; the owner may withdraw it (``cancelled``).
Cancelled, declined and no-show appointments free their slot. A vet is never
double-booked: the database refuses overlapping slots of active appointments (an
exclusion constraint), so concurrent bookings cannot both win.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from uuid import UUID
from zoneinfo import ZoneInfo

from vetchart.domain.commands import UNSET, Unset, normalise, sent_null, stripped
from vetchart.domain.errors import Conflict, RuleViolation
from vetchart.domain.events import DomainEvent
from vetchart.domain.kb.summaries import SUMMARY_SECTIONS
from vetchart.domain.records import RecordType
from vetchart.domain.transcription import TranscriptionStatus

MIN_DURATION_MINUTES = 5
MAX_DURATION_MINUTES = 12 * 60
MAX_PETS_PER_APPOINTMENT = 10
MAX_TITLE_LENGTH = 200
MAX_NOTES_LENGTH = 5000
MAX_TRANSCRIPT_LENGTH = 200_000


class AppointmentType(enum.StrEnum):
    CHECKUP = "checkup"
    EMERGENCY = "emergency"
    SURGERY = "surgery"
    CONSULTATION = "consultation"
    VACCINATION = "vaccination"
    OTHER = "other"


class AppointmentStatus(enum.StrEnum):
    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    DECLINED = "declined"


S = AppointmentStatus
TRANSITIONS: dict[AppointmentStatus, frozenset[AppointmentStatus]] = {
    S.REQUESTED: frozenset({S.SCHEDULED, S.CONFIRMED, S.DECLINED, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.CONFIRMED, S.CANCELLED, S.NO_SHOW}),
    S.CONFIRMED: frozenset({S.CHECKED_IN, S.CANCELLED, S.NO_SHOW}),
    S.CHECKED_IN: frozenset({S.IN_PROGRESS, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.NO_SHOW: frozenset(),
    S.DECLINED: frozenset(),
}
# Statuses whose slot is free again (the exclusion constraint ignores them).
FREEING = frozenset({S.CANCELLED, S.NO_SHOW, S.DECLINED})
# Statuses in which time, vet and pets may still be changed.
EDITABLE = frozenset({S.REQUESTED, S.SCHEDULED, S.CONFIRMED})
# Statuses an owner may cancel from (``POST /appointments/{id}/cancel``).
OWNER_CANCELLABLE = frozenset({S.REQUESTED, S.SCHEDULED, S.CONFIRMED})


def check_duration(minutes: int) -> int:
    if not MIN_DURATION_MINUTES <= minutes <= MAX_DURATION_MINUTES:
        raise RuleViolation(
            f"An appointment lasts {MIN_DURATION_MINUTES} to {MAX_DURATION_MINUTES} minutes.",
            rule="appointment.duration",
            field="duration_minutes",
        )
    return minutes


def check_start(start_at: datetime) -> datetime:
    if start_at.tzinfo is None or start_at.utcoffset() is None:
        raise RuleViolation(
            "start_at needs a timezone offset.", rule="appointment.naive_start", field="start_at"
        )
    return start_at.astimezone(UTC)


def check_title(title: str) -> str:
    cleaned = " ".join(title.split())
    if not cleaned or len(cleaned) > MAX_TITLE_LENGTH:
        raise RuleViolation(
            f"A title has 1 to {MAX_TITLE_LENGTH} characters.",
            rule="appointment.title",
            field="title",
        )
    return cleaned


def local_day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in the practice's timezone, in UTC. A day around a
    DST change is 23 or 25 hours long; the bounds follow the wall clock."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


@dataclass(frozen=True, kw_only=True)
class AppointmentChanged(DomainEvent):
    """Booked, rescheduled, edited or moved to another status (dashboards listen)."""

    appointment_id: UUID
    practice_id: UUID
    status: str
    start_at: datetime
    # The appointment's version after the change, and what changed (client messages:
    # a booking, a move, a cancellation; domain/messaging.py).
    version: int = 1
    changed_fields: tuple[str, ...] = ()


@dataclass
class Appointment:
    id: UUID
    practice_id: UUID
    pet_owner_id: UUID
    pet_ids: tuple[UUID, ...]
    assigned_vet_id: UUID
    start_at: datetime
    duration_minutes: int
    appointment_type: AppointmentType
    title: str
    notes: str | None
    status: AppointmentStatus
    created_by: UUID
    created_at: datetime
    updated_at: datetime
    version: int = 1
    domain_events: list[DomainEvent] = field(default_factory=list, repr=False)

    @property
    def end_at(self) -> datetime:
        return self.start_at + timedelta(minutes=self.duration_minutes)

    def _changed(self, fields: tuple[str, ...] = ()) -> None:
        self.domain_events.append(
            AppointmentChanged(
                appointment_id=self.id,
                practice_id=self.practice_id,
                status=self.status.value,
                start_at=self.start_at,
                version=self.version,
                changed_fields=fields,
            )
        )

    def move_to(self, target: AppointmentStatus, now: datetime) -> None:
        if target == self.status:
            raise Conflict(f"The appointment is already {target.value}.", code="appointment-status")
        if target not in TRANSITIONS[self.status]:
            allowed = sorted(s.value for s in TRANSITIONS[self.status])
            raise Conflict(
                f"An appointment cannot move from {self.status.value} to {target.value}"
                + (f" (allowed: {', '.join(allowed)})." if allowed else " (it is final)."),
                code="appointment-status",
                extra={"from": self.status.value, "to": target.value, "allowed": allowed},
            )
        self.status = target
        self.updated_at = now
        self.version += 1
        self._changed(("status",))

    def edit(self, changes: dict[str, object], now: datetime) -> list[str]:
        """Apply checked changes; time, vet and pets only while not yet started."""
        changed = [name for name, value in changes.items() if getattr(self, name) != value]
        if not changed:
            return []
        scheduling = {"start_at", "duration_minutes", "assigned_vet_id", "pet_ids"}
        if scheduling & set(changed) and self.status not in EDITABLE:
            raise Conflict(
                f"A {self.status.value} appointment cannot be rescheduled.",
                code="appointment-not-editable",
            )
        for name in changed:
            setattr(self, name, changes[name])
        self.updated_at = now
        self.version += 1
        self._changed(tuple(changed))
        return changed


def new_appointment(**values: object) -> Appointment:
    appointment = Appointment(**values)  # type: ignore[arg-type]
    appointment._changed()
    return appointment


# --------------------------------------------------------------------------- commands

_REQUIRED = ("start_at", "duration_minutes", "assigned_vet_id", "pet_ids", "title")


def _check_pets(pet_ids: Iterable[UUID]) -> tuple[UUID, ...]:
    unique = tuple(dict.fromkeys(pet_ids))
    if not 1 <= len(unique) <= MAX_PETS_PER_APPOINTMENT:
        raise RuleViolation(
            f"An appointment has 1 to {MAX_PETS_PER_APPOINTMENT} pets.",
            rule="appointment.pets",
            field="pet_ids",
        )
    return tuple(sorted(unique))


def _check_fields(command: NewAppointment | AppointmentChanges) -> None:
    """The checks of an appointment's fields as sent, once, when a command is built (the
    assigned vet and the owner's pets are checked against the practice by the use case)."""
    new = isinstance(command, NewAppointment)
    for name in _REQUIRED:
        if sent_null(command, name):
            missing = "is required" if new else "cannot be null"
            raise RuleViolation(f"{name} {missing}.", rule="appointment.required", field=name)
    normalise(command, "start_at", check_start)
    normalise(command, "duration_minutes", lambda minutes: check_duration(int(minutes)))
    normalise(command, "title", lambda title: check_title(str(title)))
    normalise(command, "notes", stripped)
    if sent_null(command, "appointment_type") and not new:
        raise RuleViolation(
            "appointment_type cannot be null.",
            rule="appointment.required",
            field="appointment_type",
        )
    normalise(
        command, "appointment_type", lambda kind: AppointmentType(kind or AppointmentType.CHECKUP)
    )
    normalise(command, "pet_ids", _check_pets)


@dataclass(frozen=True, kw_only=True)
class NewAppointment:
    """An appointment to book (``POST /practices/{id}/appointments``)."""

    pet_owner_id: UUID
    pet_ids: tuple[UUID, ...]
    assigned_vet_id: UUID
    start_at: datetime
    duration_minutes: int
    title: str
    appointment_type: AppointmentType = AppointmentType.CHECKUP
    notes: str | None = None

    def __post_init__(self) -> None:
        _check_fields(self)


@dataclass(frozen=True, kw_only=True)
class AppointmentChanges:
    """A change of an appointment (``PATCH /appointments/{id}``): ``UNSET`` leaves a field
    as it is; only the notes can be cleared."""

    pet_ids: tuple[UUID, ...] | Unset = UNSET
    assigned_vet_id: UUID | Unset = UNSET
    start_at: datetime | Unset = UNSET
    duration_minutes: int | Unset = UNSET
    appointment_type: AppointmentType | Unset = UNSET
    title: str | Unset = UNSET
    notes: str | Unset | None = UNSET

    def __post_init__(self) -> None:
        _check_fields(self)


# --------------------------------------------------------------------------- visits


class VisitState(enum.StrEnum):
    NEW = "new"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"


VISIT_TRANSITIONS: dict[VisitState, frozenset[VisitState]] = {
    VisitState.NEW: frozenset({VisitState.PROCESSING}),
    # processing -> processing: a summary asked for again (a job that never finished).
    VisitState.PROCESSING: frozenset(
        {VisitState.PROCESSING, VisitState.PROCESSED, VisitState.FAILED}
    ),
    VisitState.PROCESSED: frozenset({VisitState.PROCESSING}),  # summarise again
    VisitState.FAILED: frozenset({VisitState.PROCESSING}),  # retry
}


@dataclass(frozen=True, kw_only=True)
class VisitChanged(DomainEvent):
    visit_id: UUID
    pet_id: UUID
    practice_id: UUID
    state: str


@dataclass(frozen=True)
class StoredFile:
    key: str
    content_type: str
    size_bytes: int
    sha256: str
    file_name: str | None = None


@dataclass
class Visit:
    id: UUID
    pet_id: UUID
    practice_id: UUID
    appointment_id: UUID | None
    visit_date: datetime
    transcript_text: str | None
    state: VisitState
    created_by: UUID
    created_at: datetime
    updated_at: datetime
    audio: StoredFile | None = None
    audio_pending_key: str | None = None
    summary: dict[str, object] | None = None
    summary_record_id: UUID | None = None
    version: int = 1
    domain_events: list[DomainEvent] = field(default_factory=list, repr=False)
    # Speech to text of the recording (domain/transcription.py): who wrote the transcript
    # (client, openai, local), the state, why it failed, its provenance, which recording
    # the state is about and how many worker runs tried it.
    transcript_source: str | None = None
    transcription_status: TranscriptionStatus = TranscriptionStatus.NOT_REQUESTED
    transcription_error: str | None = None
    transcription: dict[str, object] | None = None
    transcription_audio_key: str | None = None
    transcription_attempts: int = 0

    @classmethod
    def new(
        cls,
        *,
        id: UUID,
        pet_id: UUID,
        practice_id: UUID,
        appointment_id: UUID | None,
        visit_date: datetime,
        transcript_text: str | None,
        created_by: UUID,
        now: datetime,
        audio: StoredFile | None = None,
    ) -> Visit:
        """A new visit (state ``new``, version 1) recorded by ``created_by`` ``now``."""
        return cls(
            id=id,
            pet_id=pet_id,
            practice_id=practice_id,
            appointment_id=appointment_id,
            visit_date=visit_date,
            transcript_text=transcript_text,
            state=VisitState.NEW,
            created_by=created_by,
            created_at=now,
            updated_at=now,
            audio=audio,
        )

    def touch(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1
        self.domain_events.append(
            VisitChanged(
                visit_id=self.id,
                pet_id=self.pet_id,
                practice_id=self.practice_id,
                state=self.state.value,
            )
        )

    def move_to(self, target: VisitState, now: datetime) -> None:
        if target not in VISIT_TRANSITIONS[self.state]:
            raise Conflict(
                f"A visit cannot move from {self.state.value} to {target.value}.",
                code="visit-state",
            )
        self.state = target
        self.touch(now)


def check_visit_date(visit_date: datetime, now: datetime) -> datetime:
    if visit_date.tzinfo is None or visit_date.utcoffset() is None:
        raise RuleViolation(
            "visit_date needs a timezone offset.", rule="visit.naive_date", field="visit_date"
        )
    if visit_date > now + timedelta(minutes=5):
        raise RuleViolation(
            "A visit cannot be in the future.", rule="visit.future", field="visit_date"
        )
    return visit_date.astimezone(UTC)


def check_transcript(text: str | None) -> str | None:
    if text is None:
        return None
    if len(text) > MAX_TRANSCRIPT_LENGTH:
        raise RuleViolation(
            f"A transcript has at most {MAX_TRANSCRIPT_LENGTH} characters.",
            rule="visit.transcript_length",
            field="transcript_text",
        )
    return text


def _check_visit_fields(command: NewVisit | VisitChanges) -> None:
    """The checks of a visit's fields as sent, once, when a command is built (the date
    against the clock, and the appointment against the practice, by the use case)."""
    if sent_null(command, "visit_date"):
        missing = "is required" if isinstance(command, NewVisit) else "cannot be null"
        raise RuleViolation(f"visit_date {missing}.", rule="visit.required", field="visit_date")
    normalise(command, "transcript_text", check_transcript)


@dataclass(frozen=True, kw_only=True)
class NewVisit:
    """A visit to record (``POST /pets/{id}/visits``)."""

    visit_date: datetime
    appointment_id: UUID | None = None
    transcript_text: str | None = None

    def __post_init__(self) -> None:
        _check_visit_fields(self)


@dataclass(frozen=True, kw_only=True)
class VisitChanges:
    """A change of a visit (``PATCH /visits/{id}``): ``UNSET`` leaves a field as it is."""

    visit_date: datetime | Unset = UNSET
    appointment_id: UUID | Unset | None = UNSET
    transcript_text: str | Unset | None = UNSET

    def __post_init__(self) -> None:
        _check_visit_fields(self)


# The longest replacement text of one section of a summary draft.
MAX_SECTION_EDIT = 5000


@dataclass(frozen=True, kw_only=True)
class SummaryAcceptance:
    """A vet accepts a visit's summary draft as a medical record
    (``POST /visits/{id}/summary/accept``): the record's type and title (defaults when
    None) and replacement text for some of the draft's sections."""

    record_type: RecordType | None = None
    title: str | None = None
    edits: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        edits = dict(self.edits or {})
        unknown = set(edits) - set(SUMMARY_SECTIONS)
        if unknown:
            raise RuleViolation(
                f"Unknown summary sections: {sorted(unknown)}.",
                rule="summary.unknown_sections",
                field="edits",
            )
        shortened = {name: str(text)[:MAX_SECTION_EDIT] for name, text in edits.items()}
        object.__setattr__(self, "edits", MappingProxyType(shortened))


@dataclass(frozen=True, kw_only=True)
class VisitSummaryRequested(DomainEvent):
    """A summary of the visit's transcript was asked for; the worker writes the draft."""

    visit_id: UUID
    pet_id: UUID
    practice_id: UUID
