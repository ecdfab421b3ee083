"""What a commit sends on: background jobs queued with it, the outbox of domain events,
and the mail those events deliver."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID


class JobQueue(Protocol):
    def defer(
        self, task: str, args: Mapping[str, object], *, queueing_lock: str | None = None
    ) -> None:
        """Queue a background job (``task`` is one of services.jobs' names); it is saved
        with the unit of work's commit, so it exists if and only if the change does."""
        ...


@dataclass(frozen=True)
class OutboxMessage:
    """A domain event as saved in the outbox (sealed fields already opened)."""

    id: UUID
    event_type: str
    payload: dict[str, Any]
    occurred_at: datetime
    delivered_at: datetime | None


class OutboxRepository(Protocol):
    async def get(self, event_id: UUID) -> OutboxMessage | None: ...

    async def claim(self, handler: str, event_id: UUID, now: datetime) -> bool:
        """Mark ``event_id`` handled by ``handler`` in this transaction. False if it already
        was; a concurrent claim of the same pair waits for this transaction to end."""
        ...

    async def mark_delivered(self, event_id: UUID, now: datetime) -> None: ...

    async def purge_delivered(self, before: datetime) -> int:
        """Delete delivered events (and their handled marks) older than ``before``."""
        ...


class Mailer(Protocol):
    async def send(self, message: MailMessage) -> None: ...


@dataclass(frozen=True)
class MailAttachment:
    filename: str
    content_type: str  # "text/calendar; method=REQUEST", "application/pdf", ...
    data: bytes


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    text: str
    # Values (tokens) that must never appear in production logs.
    secrets: tuple[str, ...] = ()
    # A stable id (the outbox event's): a message sent twice carries the same Message-ID,
    # so mail systems can drop the copy.
    message_id: str | None = None
    attachments: tuple[MailAttachment, ...] = ()
