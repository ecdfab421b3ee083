"""Client messages: the channel-level notification port, the message log, the owners'
channel consent, the practices' reminder rules and the reminders made from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from vetchart.domain.messaging import (
    Channel,
    ChannelConsent,
    MessageKind,
    MessageStatus,
    ReminderDue,
    ReminderRule,
    SkipReason,
)
from vetchart.services.ports.paging import Page, PageRequest

# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class CalendarEntry:
    """An appointment as a calendar entry (an email carries it as an ``.ics`` file).
    ``sequence`` grows with every change (the appointment's version); ``cancelled`` makes
    it a cancellation of the entry with the same ``uid``."""

    uid: str
    stamp: datetime  # when this version of the entry was made
    summary: str
    start: datetime
    end: datetime
    location: str
    sequence: int
    cancelled: bool = False


@dataclass(frozen=True)
class OutgoingMessage:
    """One message on one channel. ``idempotency_key`` is the outbox event's id: a
    message sent twice carries it (email: the Message-ID), so a receiver can drop a copy."""

    to: str
    subject: str
    text: str
    idempotency_key: str
    calendar: CalendarEntry | None = None


class Notifier(Protocol):
    """A channel's adapter (email over the mailer, SMS over Twilio or the local log).
    ``send`` returns the provider's id of the message, if it gives one; it raises when the
    message was not accepted (the job is retried)."""

    @property
    def channel(self) -> Channel: ...

    async def send(self, message: OutgoingMessage) -> str | None: ...


# --------------------------------------------------------------------------- the log


@dataclass(frozen=True)
class LoggedMessage:
    """A row of the message log: sent, or skipped with the reason. ``recipient``,
    ``subject`` and ``body`` are personal data (None once erased)."""

    id: UUID
    pet_owner_id: UUID
    practice_id: UUID | None
    event_id: UUID
    kind: MessageKind
    channel: Channel
    status: MessageStatus
    reason: SkipReason | None
    recipient: str | None
    subject: str | None
    body: str | None
    provider_id: str | None
    created_at: datetime


class MessagingRepository(Protocol):
    """The unit of work's view of the messaging tables."""

    async def consents(self, owner_id: UUID) -> list[ChannelConsent]:
        """Every channel, granted or not (a channel never set is not granted)."""
        ...

    async def set_consent(
        self, owner_id: UUID, channel: Channel, granted: bool, now: datetime, by: UUID | None
    ) -> None: ...

    async def logged(self, event_id: UUID, channel: Channel) -> bool:
        """Whether the message of this event on this channel is in the log already."""
        ...

    async def log(self, message: LoggedMessage) -> None: ...

    async def erase_owner(self, owner_id: UUID) -> int:
        """Owner erasure: forget the owner's channel consents and blank the address,
        subject and text of every logged message (the rows stay: what was sent, when, on
        which channel). The number of messages blanked."""
        ...

    async def add_rule(self, rule: ReminderRule) -> None: ...

    async def get_rule(self, rule_id: UUID, *, for_update: bool = False) -> ReminderRule | None: ...

    async def save_rule(self, rule: ReminderRule) -> None: ...

    async def delete_rule(self, rule_id: UUID) -> None: ...

    async def create_due_reminders(
        self, today: date, now: datetime, appointments_until: datetime, new_id: IdSource
    ) -> list[ReminderDue]:
        """Create the reminders due by ``today`` (vaccinations, from the active rules of
        the record's practice) and those of the booked appointments starting in
        ``(now, appointments_until]``, each once (a unique key per record, rule, lead time
        and due date; per appointment and start): a second run creates none twice.
        Returns one ``ReminderDue`` event per reminder created (its ``kind`` a
        ``MessageKind`` value)."""
        ...


class IdSource(Protocol):
    def __call__(self) -> UUID: ...


class MessageQueries(Protocol):
    async def messages_page(
        self, owner_id: UUID, practice_id: UUID | None, page: PageRequest
    ) -> Page[LoggedMessage]:
        """An owner's messages, newest first (``practice_id``: that practice's only)."""
        ...

    async def rules_page(self, practice_id: UUID, page: PageRequest) -> Page[ReminderRule]:
        """A practice's reminder rules, oldest first."""
        ...
