"""Event handlers that tell people things (mail). Run by the worker from the outbox.

A mail goes out inside the handler's claim transaction: if sending fails, the claim rolls
back and the job is retried; a crash between a successful send and the commit is the one
case where a message can go out twice (at-least-once delivery, as for any mail system).
"""

from __future__ import annotations

from vetchart.domain.practices import InvitationCreated
from vetchart.services.jobs import EventHandler
from vetchart.services.ports.outbox import Mailer, MailMessage, OutboxMessage
from vetchart.services.ports.unit_of_work import UnitOfWork


class InvitationMail:
    """Sends the invitation mail of an ``InvitationCreated`` event. ``mailer`` may be
    replaced (tests, configuration reloads)."""

    name = "mail.invitation"

    def __init__(self, mailer: Mailer, public_base_url: str) -> None:
        self.mailer = mailer
        self._base_url = public_base_url.rstrip("/")

    def handler(self) -> EventHandler:
        return EventHandler.on(self.name, InvitationCreated, self.handle)

    async def handle(self, uow: UnitOfWork, message: OutboxMessage) -> None:
        event = message.payload
        token = str(event["token"])
        await self.mailer.send(
            MailMessage(
                to=str(event["email"]),
                subject=f"You are invited to join {event['practice_name']} on vetchart",
                text=(
                    f"You have been invited to join {event['practice_name']} as "
                    f"{event['role']}.\n"
                    f"Accept within 7 days: {self._base_url}/invitations/accept?token={token}\n"
                ),
                secrets=(token,),
                message_id=str(message.id),
            )
        )
