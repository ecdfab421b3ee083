"""Client messages and reminders: channels, consent, the message log's vocabulary, the
reminder rules of a practice, and what an appointment change tells the client.

Sending is the services' business (services/messages.py over the notification port);
this module holds the rules: which channels exist, what a rule may say, which appointment
change is worth a message, which reminders fall due on a day.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from vetchart.domain.commands import UNSET, Unset
from vetchart.domain.errors import RuleViolation
from vetchart.domain.events import DomainEvent
from vetchart.domain.records import RecordType


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class MessageKind(enum.StrEnum):
    APPOINTMENT_CONFIRMATION = "appointment_confirmation"
    APPOINTMENT_CHANGE = "appointment_change"
    APPOINTMENT_CANCELLATION = "appointment_cancellation"
    APPOINTMENT_REMINDER = "appointment_reminder"
    VACCINATION_REMINDER = "vaccination_reminder"


class MessageStatus(enum.StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"


class SkipReason(enum.StrEnum):
    NO_CONSENT = "no_consent"  # the owner has not agreed to this channel, or opted out
    NO_ADDRESS = "no_address"  # no email / phone on the owner's profile


# Lead times: between 0 (on the due day) and a year ahead; at most this many per rule.
MAX_LEAD_DAYS = 365
MAX_LEAD_TIMES = 10
MAX_SPECIES_LENGTH = 50


# --------------------------------------------------------------------------- consent


@dataclass(frozen=True, kw_only=True)
class ConsentChanges:
    """PATCH of an owner's channel consent: ``True`` opts in, ``False`` opts out."""

    email: bool | Unset = UNSET
    sms: bool | Unset = UNSET

    def __post_init__(self) -> None:
        for name in ("email", "sms"):
            if getattr(self, name) is None:
                raise RuleViolation(
                    f"{name} must be true or false.", rule="consent.value_required", field=name
                )

    def by_channel(self) -> dict[Channel, bool]:
        return {
            channel: value
            for channel, value in ((Channel.EMAIL, self.email), (Channel.SMS, self.sms))
            if isinstance(value, bool)
        }


@dataclass(frozen=True)
class ChannelConsent:
    channel: Channel
    granted: bool
    changed_at: datetime | None
    changed_by: UUID | None


# --------------------------------------------------------------------------- reminder rules


def _check_lead_days(lead_days: tuple[int, ...]) -> tuple[int, ...]:
    if not lead_days:
        raise RuleViolation(
            "A rule needs at least one lead time.",
            rule="reminder_rule.lead_days_required",
            field="lead_days",
        )
    if len(lead_days) > MAX_LEAD_TIMES:
        raise RuleViolation(
            f"At most {MAX_LEAD_TIMES} lead times per rule.",
            rule="reminder_rule.too_many_lead_days",
            field="lead_days",
        )
    if any(not 0 <= days <= MAX_LEAD_DAYS for days in lead_days):
        raise RuleViolation(
            f"Lead times are between 0 and {MAX_LEAD_DAYS} days.",
            rule="reminder_rule.lead_days_out_of_range",
            field="lead_days",
        )
    return tuple(sorted(set(lead_days), reverse=True))


def _check_species(species: str | None) -> str | None:
    if species is None:
        return None
    cleaned = species.strip().lower()
    if not cleaned or len(cleaned) > MAX_SPECIES_LENGTH:
        raise RuleViolation(
            f"species is 1 to {MAX_SPECIES_LENGTH} characters (or null: every species).",
            rule="reminder_rule.species_invalid",
            field="species",
        )
    return cleaned


def _check_record_type(record_type: RecordType) -> RecordType:
    # Only vaccinations carry a due date (data.next_due) for now.
    if record_type is not RecordType.VACCINATION:
        raise RuleViolation(
            "Reminder rules exist for vaccination records only (they carry data.next_due).",
            rule="reminder_rule.record_type_unsupported",
            field="record_type",
        )
    return record_type


@dataclass(frozen=True, kw_only=True)
class NewReminderRule:
    record_type: RecordType
    lead_days: tuple[int, ...]
    species: str | None = None
    active: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "record_type", _check_record_type(self.record_type))
        object.__setattr__(self, "lead_days", _check_lead_days(tuple(self.lead_days)))
        object.__setattr__(self, "species", _check_species(self.species))


@dataclass(frozen=True, kw_only=True)
class ReminderRuleChanges:
    record_type: RecordType | Unset = UNSET
    lead_days: tuple[int, ...] | Unset = UNSET
    species: str | Unset | None = UNSET
    active: bool | Unset = UNSET

    def __post_init__(self) -> None:
        if self.record_type is None or self.lead_days is None or self.active is None:
            raise RuleViolation(
                "record_type, lead_days and active cannot be null.",
                rule="reminder_rule.value_required",
            )
        if isinstance(self.record_type, RecordType):
            _check_record_type(self.record_type)
        if not isinstance(self.lead_days, Unset):
            object.__setattr__(self, "lead_days", _check_lead_days(tuple(self.lead_days)))
        if not isinstance(self.species, Unset):
            object.__setattr__(self, "species", _check_species(self.species))


@dataclass(frozen=True)
class ReminderRule:
    id: UUID
    practice_id: UUID
    record_type: RecordType
    species: str | None
    lead_days: tuple[int, ...]
    active: bool
    created_at: datetime
    updated_at: datetime


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, kw_only=True)
class ReminderDue(DomainEvent):
    """A reminder fell due (created once by the reminder scan); the message handlers send
    it to the owner. ``record_id`` for a vaccination, ``appointment_id`` for a visit."""

    reminder_id: UUID
    kind: str
    practice_id: UUID
    pet_owner_id: UUID
    pet_id: UUID | None
    record_id: UUID | None
    appointment_id: UUID | None
    due_on: date


# --------------------------------------------------------------------------- appointments

# The appointment statuses a client is told about as booked.
BOOKED_STATUSES = frozenset({"scheduled", "confirmed"})
# The fields whose change moves the client's visit (a new time or length).
MOVING_FIELDS = frozenset({"start_at", "duration_minutes"})


def appointment_message_kind(
    *, version: int, status: str, changed_fields: tuple[str, ...]
) -> MessageKind | None:
    """What an ``AppointmentChanged`` tells the client, or None (nothing to tell: a check-in,
    a note, a request not yet accepted)."""
    changed = set(changed_fields)
    if version <= 1:
        return MessageKind.APPOINTMENT_CONFIRMATION if status in BOOKED_STATUSES else None
    if "status" in changed:
        if status == "cancelled":
            return MessageKind.APPOINTMENT_CANCELLATION
        if status in BOOKED_STATUSES:
            return MessageKind.APPOINTMENT_CONFIRMATION
        return None
    if changed & MOVING_FIELDS and status in BOOKED_STATUSES:
        return MessageKind.APPOINTMENT_CHANGE
    return None
