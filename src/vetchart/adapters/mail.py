"""Mail adapters: a development logger and SMTP (smtplib, in a worker thread)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

import structlog

from vetchart.services.ports.outbox import MailMessage

log = structlog.get_logger(__name__)

REDACTED = "[redacted]"


class LoggingMailer:
    """Development: the message goes to the log. With ``redact`` (production), the
    message's secrets (invitation tokens) are replaced before logging."""

    def __init__(self, *, redact: bool) -> None:
        self._redact = redact

    async def send(self, message: MailMessage) -> None:
        text = message.text
        if self._redact:
            for secret in message.secrets:
                text = text.replace(secret, REDACTED)
        log.info(
            "mail.logged",
            to=message.to,
            subject=message.subject,
            body=text,
            attachments=[attachment.filename for attachment in message.attachments],
        )


class SmtpMailer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None,
        password: str | None,
        starttls: bool,
        timeout_seconds: float,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout_seconds

    async def send(self, message: MailMessage) -> None:
        await asyncio.to_thread(self._send_sync, message)
        log.info("mail.sent", to=message.to, subject=message.subject)

    def _send_sync(self, message: MailMessage) -> None:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.to
        email["Subject"] = message.subject
        if message.message_id:
            domain = self._sender.rpartition("@")[2].strip(" >") or "vetchart.local"
            email["Message-ID"] = f"<{message.message_id}@{domain}>"
        email.set_content(message.text)
        for attachment in message.attachments:
            kind, _, params = attachment.content_type.partition(";")
            maintype, _, subtype = kind.strip().partition("/")
            email.add_attachment(
                attachment.data,
                maintype=maintype,
                subtype=subtype,
                filename=attachment.filename,
                params={
                    name.strip(): value.strip()
                    for name, _, value in (p.partition("=") for p in params.split(";") if p)
                },
            )
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._username and self._password:
                smtp.login(self._username, self._password)
            smtp.send_message(email)
