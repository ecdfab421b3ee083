"""The mail adapters: the development logger (redacting secrets) and SMTP against a real
local SMTP server (aiosmtpd), plus an unreachable and a silent server."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from structlog.testing import capture_logs

from vetchart.adapters.mail import REDACTED, LoggingMailer, SmtpMailer
from vetchart.services.ports.outbox import MailMessage

TOKEN = "tok_9b1c0e7f4d2a4c8f8e6b5a3d2c1b0a99-secret"
MESSAGE = MailMessage(
    to="new.vet@example.com",
    subject="You are invited to join Riverside Animal Clinic on vetchart",
    text=(
        "You have been invited to join Riverside Animal Clinic as VET.\n"
        f"Accept within 7 days: http://127.0.0.1:8000/invitations/accept?token={TOKEN}\n"
    ),
    secrets=(TOKEN,),
)
SENDER = "vetchart <no-reply@vetchart.test>"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RecordingHandler:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, int]]:
    handler = RecordingHandler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _mailer(port: int, timeout_seconds: float = 5.0) -> SmtpMailer:
    return SmtpMailer(
        host="127.0.0.1",
        port=port,
        sender=SENDER,
        username=None,
        password=None,
        starttls=False,
        timeout_seconds=timeout_seconds,
    )


async def test_logging_mailer_logs_the_message_in_development():
    with capture_logs() as logs:
        await LoggingMailer(redact=False).send(MESSAGE)
    assert len(logs) == 1
    entry = logs[0]
    assert entry["event"] == "mail.logged"
    assert entry["to"] == MESSAGE.to
    assert entry["subject"] == MESSAGE.subject
    assert entry["body"] == MESSAGE.text
    assert TOKEN in entry["body"]


async def test_logging_mailer_with_redaction_never_logs_the_secret():
    with capture_logs() as logs:
        await LoggingMailer(redact=True).send(MESSAGE)
        await LoggingMailer(redact=True).send(
            MailMessage(
                to="x@example.com",
                subject="two secrets",
                text=f"first {TOKEN} then {TOKEN[::-1]} and {TOKEN} again",
                secrets=(TOKEN, TOKEN[::-1]),
            )
        )
    assert [entry["event"] for entry in logs] == ["mail.logged", "mail.logged"]
    assert TOKEN not in repr(logs)
    assert TOKEN[::-1] not in repr(logs)
    assert REDACTED in logs[0]["body"]
    assert logs[0]["body"] == MESSAGE.text.replace(TOKEN, REDACTED)
    assert logs[0]["to"] == MESSAGE.to
    assert logs[1]["body"].count(REDACTED) == 3


async def test_smtp_mailer_delivers_to_a_real_smtp_server(
    smtp_server: tuple[RecordingHandler, int],
):
    handler, port = smtp_server
    with capture_logs() as logs:
        await _mailer(port).send(MESSAGE)
    assert len(handler.envelopes) == 1
    envelope = handler.envelopes[0]
    assert envelope.rcpt_tos == [MESSAGE.to]
    assert envelope.mail_from == "no-reply@vetchart.test"
    assert isinstance(envelope.content, bytes)
    parsed: Message = message_from_bytes(envelope.content, policy=default_policy)
    assert parsed["To"] == MESSAGE.to
    assert parsed["From"] == SENDER
    assert parsed["Subject"] == MESSAGE.subject
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == MESSAGE.text
    # The log says a mail went out, without its body (and so without the token).
    assert [entry["event"] for entry in logs] == ["mail.sent"]
    assert TOKEN not in repr(logs)

    # Non-ASCII subjects and bodies survive the trip.
    await _mailer(port).send(
        MailMessage(to="zoë@example.com", subject="Einladung für Zoë", text="Grüße, Zoë ✓\n")
    )
    parsed = message_from_bytes(handler.envelopes[1].content, policy=default_policy)
    assert parsed["Subject"] == "Einladung für Zoë"
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().strip() == "Grüße, Zoë ✓"


async def test_an_unreachable_smtp_port_fails_fast():
    port = _free_port()  # nothing listens here any more
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        await _mailer(port, timeout_seconds=2.0).send(MESSAGE)
    assert time.monotonic() - started < 2.0


async def test_a_silent_smtp_server_times_out_in_bounded_time():
    """A server that accepts the connection but never greets: the timeout applies."""
    accepted: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises((TimeoutError, OSError)):
            await _mailer(port, timeout_seconds=0.5).send(MESSAGE)
        elapsed = time.monotonic() - started
        assert 0.4 <= elapsed < 3.0, elapsed
        assert accepted, "the mailer never connected"
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_an_appointment_email_carries_its_calendar_file_over_smtp(smtp_server):
    """The email channel (adapters/notifications.py) through the SMTP mailer: the message
    has the text and an appointment.ics part that parses as the same appointment."""
    from datetime import UTC, datetime, timedelta

    from icalendar import Calendar

    from vetchart.adapters.notifications import EmailChannel
    from vetchart.services.ports.notifications import CalendarEntry, OutgoingMessage

    handler, port = smtp_server
    start = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
    entry = CalendarEntry(
        uid="appointment-1@vetchart",
        stamp=datetime(2027, 2, 1, tzinfo=UTC),
        summary="Check-up (Rex) at Riverside",
        start=start,
        end=start + timedelta(minutes=30),
        location="Riverside Animal Clinic",
        sequence=2,
    )
    await EmailChannel(_mailer(port)).send(
        OutgoingMessage(
            to="client@example.com",
            subject="Your appointment",
            text="See you then.",
            idempotency_key="0190-event",
            calendar=entry,
        )
    )
    (envelope,) = handler.envelopes
    received = message_from_bytes(envelope.content, policy=default_policy)
    assert received["Message-ID"] == "<0190-event@vetchart.test>"
    parts = list(received.iter_attachments())
    assert [part.get_filename() for part in parts] == ["appointment.ics"]
    assert parts[0].get_content_type() == "text/calendar"
    assert parts[0].get_param("method") == "REQUEST"
    calendar = Calendar.from_ical(parts[0].get_payload(decode=True))
    (event,) = calendar.walk("VEVENT")
    assert str(event["UID"]) == entry.uid
    assert event.decoded("DTSTART") == start
    assert int(event["SEQUENCE"]) == 2
    assert received.get_body(preferencelist=("plain",)).get_content().strip() == "See you then."
