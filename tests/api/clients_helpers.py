"""Shared helpers for the practice / owner / association / pet API tests.

``World`` is a demo data set on a fresh database (two practices, one user of every role,
and optionally the ~50 demo owners with their pets) plus signed-in callers, created
lazily: ``await world.h(RIVERSIDE_VET)`` is that user's ``Authorization`` header.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import Table, select

from tests.api.auth_helpers import (
    API,
    DEMO_EMAILS,
    STRONG_PASSWORD,
    login_ok,
    signup,
)
from vetchart.adapters.db.tables import outbox_events
from vetchart.bootstrap import demo_seeders
from vetchart.domain.users import User
from vetchart.services.demo import DEMO_PRACTICES
from vetchart.services.ports.outbox import MailMessage

RIVERSIDE_NAME = DEMO_PRACTICES[0][0]
HILLCREST_NAME = DEMO_PRACTICES[1][0]


class RecordingMailer:
    """A mail port test double: keeps every message it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[MailMessage] = []

    async def send(self, message: MailMessage) -> None:
        self.sent.append(message)


@dataclass
class World:
    app: FastAPI
    client: AsyncClient
    users: dict[str, User]
    practices: dict[str, UUID]
    _headers: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def riverside(self) -> UUID:
        return self.practices[RIVERSIDE_NAME]

    @property
    def hillcrest(self) -> UUID:
        return self.practices[HILLCREST_NAME]

    async def h(self, email: str, password: str | None = None) -> dict[str, str]:
        """The bearer header of a signed-in user (signed in once per test)."""
        if email not in self._headers:
            tokens = (
                await login_ok(self.client, email)
                if password is None
                else await login_ok(self.client, email, password)
            )
            self._headers[email] = tokens.headers
        return self._headers[email]

    async def new_pet_owner_user(self, email: str, full_name: str = "Casey Fields") -> UUID:
        """A PET_OWNER account made through signup (signed in); returns its user id."""
        response = await signup(self.client, email, STRONG_PASSWORD, full_name)
        assert response.status_code == 201, response.text
        await self.h(email, STRONG_PASSWORD)
        return UUID(response.json()["id"])

    async def create_owner(self, email: str, /, **values: Any) -> dict[str, Any]:
        body = {"full_name": "Jordan Client", **values}
        response = await self.client.post(
            f"{API}/pet-owners", json=body, headers=await self.h(email)
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def create_pet(
        self, email: str, owner_id: str | UUID, /, **values: Any
    ) -> dict[str, Any]:
        body = {"owner_id": str(owner_id), "name": "Biscuit", "species": "dog", **values}
        response = await self.client.post(f"{API}/pets", json=body, headers=await self.h(email))
        assert response.status_code == 201, response.text
        return dict(response.json())

    def use_mailer(self) -> RecordingMailer:
        mailer = RecordingMailer()
        self.app.state.container.invitation_mail.mailer = mailer
        return mailer

    async def deliver_events(self) -> int:
        """Do what the worker does: deliver the outbox's undelivered events, oldest first."""
        return await deliver_events(self.app)


async def deliver_events(app: FastAPI) -> int:
    container = app.state.container
    query = (
        select(outbox_events.c.id)
        .where(outbox_events.c.delivered_at.is_(None))
        .order_by(outbox_events.c.occurred_at, outbox_events.c.id)
    )
    async with container.engine.connect() as conn:
        pending = [row.id for row in await conn.execute(query)]
    for event_id in pending:
        await container.delivery.deliver(event_id)
    return len(pending)


async def start(app: FastAPI, client: AsyncClient, *, demo_clients: bool = False) -> World:
    """Seed the demo identity data (and the demo owners and pets when asked)."""
    seeders = demo_seeders(app.state.container)
    await seeders[0]()
    if demo_clients:
        for seed in seeders[1:]:
            await seed()
    users: dict[str, User] = {}
    practices: dict[str, UUID] = {}
    async with app.state.container.uow() as uow:
        for email in DEMO_EMAILS:
            user = await uow.users.get_by_email(email)
            assert user is not None, email
            users[email] = user
        for name, _, _ in DEMO_PRACTICES:
            practice = await uow.practices.get_by_name(name)
            assert practice is not None, name
            practices[name] = practice.id
    return World(app=app, client=client, users=users, practices=practices)


async def table_rows(
    app: FastAPI, table: Table, *conditions: Any, order_by: Iterable[Any] | None = None
) -> list[dict[str, Any]]:
    """Every column of the matching rows, read straight from the database."""
    query = select(table).where(*conditions).order_by(*(order_by or [table.c.id]))
    async with app.state.container.engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


def assert_problem(response: Response, status: int, type_suffix: str | None = None) -> dict:
    """An RFC 9457 problem with this status (and a type ending with ``type_suffix``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = dict(response.json())
    assert body["status"] == status
    if type_suffix is not None:
        assert body["type"].endswith(type_suffix), body
    return body


def error_fields(response: Response) -> set[str]:
    """The last element of every validation error's ``loc``."""
    return {str(error["loc"][-1]) for error in response.json().get("errors", [])}
