"""Client messages: what an appointment change or a due reminder tells the owner, on each
channel the owner agreed to, sent from the outbox and written to the message log.

One event handler per channel (``messages.email``, ``messages.sms``), each run by the
worker in its own claim transaction (services/jobs.py): a handler that is run twice for
an event acts once (the claim in ``handled_events``, and the log's unique (event,
channel)); a send that fails raises, the claim and the log row roll back, and the job is
retried, so each message is sent at least once and, short of a crash between the
provider accepting it and the commit, once only. A failure on one channel never sends
the other channel's message again.

Templates are ``string.Template`` texts (plain text: no markup to escape, no logic to
run; a missing value is a ``KeyError`` at once rather than a blank in a sent message).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from string import Template
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from vetchart.domain.appointments import Appointment, AppointmentChanged
from vetchart.domain.messaging import (
    BOOKED_STATUSES,
    Channel,
    MessageKind,
    MessageStatus,
    ReminderDue,
    SkipReason,
    appointment_message_kind,
)
from vetchart.domain.owners import PetOwner
from vetchart.domain.policy import ClientScope
from vetchart.domain.practices import Practice
from vetchart.domain.records import RecordStatus
from vetchart.services.jobs import EventHandler
from vetchart.services.ports.notifications import (
    CalendarEntry,
    LoggedMessage,
    Notifier,
    OutgoingMessage,
)
from vetchart.services.ports.outbox import OutboxMessage
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

EVERYONE = ClientScope(everything=True)

# --------------------------------------------------------------------------- templates

_SIGNATURE = "\n-- \n$practice_name${practice_phone}\n"

SUBJECTS: Mapping[MessageKind, Template] = {
    MessageKind.APPOINTMENT_CONFIRMATION: Template("Your appointment at $practice_name on $when"),
    MessageKind.APPOINTMENT_CHANGE: Template("Your appointment at $practice_name has moved"),
    MessageKind.APPOINTMENT_CANCELLATION: Template(
        "Your appointment at $practice_name is cancelled"
    ),
    MessageKind.APPOINTMENT_REMINDER: Template("Reminder: $practice_name, $when"),
    MessageKind.VACCINATION_REMINDER: Template("$pet_name is due for $vaccine"),
}

EMAIL_BODIES: Mapping[MessageKind, Template] = {
    MessageKind.APPOINTMENT_CONFIRMATION: Template(
        'Dear $owner_name,\n\nyour appointment "$title" for $pets is booked for $when '
        "($minutes minutes).\nThe attached calendar entry adds it to your calendar.\n" + _SIGNATURE
    ),
    MessageKind.APPOINTMENT_CHANGE: Template(
        'Dear $owner_name,\n\nyour appointment "$title" for $pets is now on $when '
        "($minutes minutes).\nThe attached calendar entry updates your calendar.\n" + _SIGNATURE
    ),
    MessageKind.APPOINTMENT_CANCELLATION: Template(
        'Dear $owner_name,\n\nyour appointment "$title" for $pets on $when is cancelled.\n'
        "The attached calendar entry removes it from your calendar.\n" + _SIGNATURE
    ),
    MessageKind.APPOINTMENT_REMINDER: Template(
        'Dear $owner_name,\n\na reminder of your appointment "$title" for $pets on $when '
        "($minutes minutes).\n" + _SIGNATURE
    ),
    MessageKind.VACCINATION_REMINDER: Template(
        "Dear $owner_name,\n\n$pet_name is due for $vaccine on $due_on. Please contact us to "
        "book a visit.\n" + _SIGNATURE
    ),
}

SMS_BODIES: Mapping[MessageKind, Template] = {
    MessageKind.APPOINTMENT_CONFIRMATION: Template(
        "$practice_name: $pets booked for $when. Reply to the practice to change it."
    ),
    MessageKind.APPOINTMENT_CHANGE: Template("$practice_name: $pets's appointment moved to $when."),
    MessageKind.APPOINTMENT_CANCELLATION: Template(
        "$practice_name: $pets's appointment on $when is cancelled."
    ),
    MessageKind.APPOINTMENT_REMINDER: Template("$practice_name: reminder, $pets on $when."),
    MessageKind.VACCINATION_REMINDER: Template(
        "$practice_name: $pet_name is due for $vaccine on $due_on. Call us to book."
    ),
}

# The kinds that carry the appointment as a calendar entry (email only).
CALENDAR_KINDS = frozenset(
    {
        MessageKind.APPOINTMENT_CONFIRMATION,
        MessageKind.APPOINTMENT_CHANGE,
        MessageKind.APPOINTMENT_CANCELLATION,
        MessageKind.APPOINTMENT_REMINDER,
    }
)


def local_time(moment: datetime, timezone: str) -> str:
    """A time as the client reads it, in the practice's zone: "Mon 7 Dec 2026, 09:30"."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} ({timezone})"


@dataclass(frozen=True)
class Draft:
    """What one event tells one owner, before a channel is chosen."""

    kind: MessageKind
    owner: PetOwner
    practice: Practice
    values: dict[str, str]
    calendar: CalendarEntry | None = None

    def render(self, channel: Channel) -> tuple[str, str]:
        subject = SUBJECTS[self.kind].substitute(self.values)
        bodies = EMAIL_BODIES if channel is Channel.EMAIL else SMS_BODIES
        return subject, bodies[self.kind].substitute(self.values)


# --------------------------------------------------------------------------- sending


class ClientMessages:
    """The message handlers of the outbox: one per channel. ``notifiers`` may be replaced
    (tests, configuration)."""

    def __init__(self, *, notifiers: Sequence[Notifier], clock: Clock, ids: IdGenerator) -> None:
        self.notifiers: dict[Channel, Notifier] = {n.channel: n for n in notifiers}
        self._clock = clock
        self._ids = ids

    def handlers(self) -> list[EventHandler]:
        events = frozenset({AppointmentChanged.event_type(), ReminderDue.event_type()})
        return [
            EventHandler(
                name=f"messages.{channel.value}",
                event_types=events,
                handle=self._handler(channel),
            )
            for channel in Channel
        ]

    def _handler(self, channel: Channel) -> Any:
        async def handle(uow: UnitOfWork, message: OutboxMessage) -> None:
            await self.send(uow, message, channel)

        return handle

    async def send(self, uow: UnitOfWork, event: OutboxMessage, channel: Channel) -> None:
        """Send the event's message on ``channel`` (or log why not) in ``uow``."""
        draft = await self._draft(uow, event)
        if draft is None or await uow.messaging.logged(event.id, channel):
            return
        subject, body = draft.render(channel)
        owner = draft.owner
        address = owner.email if channel is Channel.EMAIL else owner.phone
        consents = {c.channel: c.granted for c in await uow.messaging.consents(owner.id)}
        reason: SkipReason | None = None
        if not consents[channel]:
            reason = SkipReason.NO_CONSENT
        elif not address:
            reason = SkipReason.NO_ADDRESS
        provider_id: str | None = None
        if reason is None:
            assert address is not None
            provider_id = await self.notifiers[channel].send(
                OutgoingMessage(
                    to=address,
                    subject=subject,
                    text=body,
                    idempotency_key=str(event.id),
                    calendar=draft.calendar if channel is Channel.EMAIL else None,
                )
            )
        await uow.messaging.log(
            LoggedMessage(
                id=self._ids.new_id(),
                pet_owner_id=owner.id,
                practice_id=draft.practice.id,
                event_id=event.id,
                kind=draft.kind,
                channel=channel,
                status=MessageStatus.SKIPPED if reason else MessageStatus.SENT,
                reason=reason,
                # What was not sent keeps no copy of the owner's address or the text.
                recipient=None if reason else address,
                subject=subject,
                body=None if reason else body,
                provider_id=provider_id,
                created_at=self._clock.now(),
            )
        )

    async def _draft(self, uow: UnitOfWork, event: OutboxMessage) -> Draft | None:
        payload = event.payload
        if event.event_type == AppointmentChanged.event_type():
            if "version" not in payload:
                return None  # written before revision 0012: what changed is not known
            kind = appointment_message_kind(
                version=int(payload["version"]),
                status=str(payload["status"]),
                changed_fields=tuple(payload.get("changed_fields", ())),
            )
            if kind is None:
                return None
            return await self._appointment_draft(
                uow, UUID(payload["appointment_id"]), kind, int(payload["version"])
            )
        kind = MessageKind(payload["kind"])
        if kind is MessageKind.APPOINTMENT_REMINDER:
            return await self._appointment_draft(uow, UUID(payload["appointment_id"]), kind, None)
        return await self._vaccination_draft(uow, payload)

    async def _appointment_draft(
        self, uow: UnitOfWork, appointment_id: UUID, kind: MessageKind, version: int | None
    ) -> Draft | None:
        appointment = await uow.appointments.get(appointment_id, EVERYONE)
        if appointment is None:
            return None
        if kind is MessageKind.APPOINTMENT_REMINDER and (
            appointment.status.value not in BOOKED_STATUSES
            or appointment.start_at <= self._clock.now()
        ):
            return None  # cancelled or moved into the past since the reminder fell due
        owner = await uow.pet_owners.get(appointment.pet_owner_id, EVERYONE)
        practice = await uow.practices.get(appointment.practice_id)
        if owner is None or practice is None:
            return None
        pets = [await uow.pets.get(pet_id, EVERYONE) for pet_id in appointment.pet_ids]
        names = ", ".join(sorted(pet.name for pet in pets if pet is not None)) or "your pet"
        values = _common(owner, practice) | {
            "title": appointment.title,
            "pets": names,
            "when": local_time(appointment.start_at, practice.timezone),
            "minutes": str(appointment.duration_minutes),
        }
        return Draft(
            kind=kind,
            owner=owner,
            practice=practice,
            values=values,
            calendar=_calendar(appointment, practice, names, kind, version, self._clock.now()),
        )

    async def _vaccination_draft(self, uow: UnitOfWork, payload: dict[str, Any]) -> Draft | None:
        record = await uow.records.get(UUID(payload["record_id"]), EVERYONE)
        if record is None or record.status is not RecordStatus.ACTIVE:
            return None
        pet = await uow.pets.get(record.pet_id, EVERYONE)
        owner = await uow.pet_owners.get(UUID(payload["pet_owner_id"]), EVERYONE)
        practice = await uow.practices.get(record.practice_id)
        if pet is None or owner is None or practice is None:
            return None
        values = _common(owner, practice) | {
            "pet_name": pet.name,
            "vaccine": str(record.content.data.get("vaccine_name") or "a vaccination"),
            "due_on": date.fromisoformat(str(payload["due_on"])).strftime("%d %b %Y"),
        }
        return Draft(
            kind=MessageKind.VACCINATION_REMINDER, owner=owner, practice=practice, values=values
        )


def _common(owner: PetOwner, practice: Practice) -> dict[str, str]:
    return {
        "owner_name": owner.full_name,
        "practice_name": practice.name,
        "practice_phone": f"\n{practice.phone}" if practice.phone else "",
    }


def _calendar(
    appointment: Appointment,
    practice: Practice,
    pets: str,
    kind: MessageKind,
    version: int | None,
    now: datetime,
) -> CalendarEntry | None:
    if kind not in CALENDAR_KINDS:
        return None
    location = ", ".join(
        part
        for part in (practice.name, practice.address_line1, practice.city, practice.postal_code)
        if part
    )
    return CalendarEntry(
        uid=f"{appointment.id}@vetchart",
        stamp=now,
        summary=f"{appointment.title} ({pets}) at {practice.name}",
        start=appointment.start_at,
        end=appointment.start_at + timedelta(minutes=appointment.duration_minutes),
        location=location,
        sequence=(version if version is not None else appointment.version) - 1,
        cancelled=kind is MessageKind.APPOINTMENT_CANCELLATION,
    )


# --------------------------------------------------------------------------- reminders


class ReminderScan:
    """The periodic job: creates the reminders that fell due, each once, and an outbox
    event (``ReminderDue``) per new reminder, in one transaction."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        appointment_lead: timedelta,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._appointment_lead = appointment_lead

    async def run(self) -> int:
        now = self._clock.now()
        async with self._uow() as uow:
            created = await uow.messaging.create_due_reminders(
                now.date(), now, now + self._appointment_lead, self._ids.new_id
            )
            for event in created:
                uow.record(event)
            await uow.commit()
        return len(created)
