"""The notification port's channels: email over the mailer (an appointment's calendar
entry attached as an ``.ics`` file, made with icalendar), SMS over Twilio's Messages API
(httpx), and the local SMS channel of development (the application log; the message log
in the database records every message either way)."""

from __future__ import annotations

import httpx
import structlog
from icalendar import Calendar, Event

from vetchart.domain.messaging import Channel
from vetchart.services.ports.notifications import CalendarEntry, OutgoingMessage
from vetchart.services.ports.outbox import MailAttachment, Mailer, MailMessage

log = structlog.get_logger(__name__)

PRODUCT_ID = "-//vetchart//appointments//EN"


def calendar_file(entry: CalendarEntry) -> bytes:
    """An iCalendar (RFC 5545) file of one appointment: a request, or its cancellation.
    Calendar programs match updates by ``UID`` and order them by ``SEQUENCE``."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if entry.cancelled else "REQUEST")
    event = Event()
    event.add("uid", entry.uid)
    event.add("dtstamp", entry.stamp)
    event.add("dtstart", entry.start)
    event.add("dtend", entry.end)
    event.add("summary", entry.summary)
    event.add("location", entry.location)
    event.add("sequence", entry.sequence)
    event.add("status", "CANCELLED" if entry.cancelled else "CONFIRMED")
    calendar.add_component(event)
    return bytes(calendar.to_ical())


class EmailChannel:
    """Email through the mailer (SMTP, or the log in development)."""

    channel = Channel.EMAIL

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer

    async def send(self, message: OutgoingMessage) -> str | None:
        attachments: tuple[MailAttachment, ...] = ()
        if message.calendar is not None:
            method = "CANCEL" if message.calendar.cancelled else "REQUEST"
            attachments = (
                MailAttachment(
                    filename="appointment.ics",
                    content_type=f"text/calendar; method={method}; charset=utf-8",
                    data=calendar_file(message.calendar),
                ),
            )
        await self.mailer.send(
            MailMessage(
                to=message.to,
                subject=message.subject,
                text=message.text,
                message_id=message.idempotency_key,
                attachments=attachments,
            )
        )
        return None


class SmsRejected(Exception):
    """Twilio did not accept the message (the job is retried, then fails visibly)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the SMS provider answered {status}")
        self.status = status


class TwilioSms:
    """SMS through Twilio's Messages API: ``POST /2010-04-01/Accounts/{sid}/Messages.json``
    with HTTP basic auth (account SID, auth token) and a form body (To, From, Body). The
    answer's ``sid`` is the provider id kept in the message log."""

    channel = Channel.SMS

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        base_url: str,
        timeout_seconds: float,
    ) -> None:
        self._sid = account_sid
        self._token = auth_token
        self._sender = sender
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._timeout = timeout_seconds

    async def send(self, message: OutgoingMessage) -> str | None:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(
                self._url,
                auth=(self._sid, self._token),
                data={"To": message.to, "From": self._sender, "Body": message.text},
            )
        if response.status_code not in (200, 201):
            log.warning("sms.rejected", status=response.status_code)
            raise SmsRejected(response.status_code)
        provider_id = response.json().get("sid")
        log.info("sms.sent", provider_id=provider_id)
        return str(provider_id) if provider_id else None


class LocalSms:
    """Development: the SMS goes to the application log (``make run`` needs no Twilio
    account); the message log records it as sent like any other."""

    channel = Channel.SMS

    def __init__(self, *, redact: bool) -> None:
        self._redact = redact  # production: no number or text in the log

    async def send(self, message: OutgoingMessage) -> str | None:
        if self._redact:
            log.info("sms.logged", chars=len(message.text))
        else:
            log.info("sms.logged", to=message.to, body=message.text)
        return None
