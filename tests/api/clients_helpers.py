"""Shared helpers for the practice / owner / association / pet API tests: a recording
mailer, the worker's outbox delivery, rows read straight from the database, and problem
checks. The worlds these tests run in are built by tests/fixtures/world.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from httpx import Response
from sqlalchemy import Table, select

from vetchart.adapters.db.tables import outbox_events
from vetchart.services.ports.outbox import MailMessage


class RecordingMailer:
    """A mail port test double: keeps every message it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[MailMessage] = []

    async def send(self, message: MailMessage) -> None:
        self.sent.append(message)


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


async def table_rows(
    app: FastAPI, table: Table, *conditions: Any, order_by: Iterable[Any] | None = None
) -> list[dict[str, Any]]:
    """Every column of the matching rows, read straight from the database."""
    query = select(table).where(*conditions).order_by(*(order_by or [table.c.id]))
    async with app.state.container.engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


def assert_problem(
    response: Response, status: int, type_suffix: str | None = None
) -> dict[str, Any]:
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
