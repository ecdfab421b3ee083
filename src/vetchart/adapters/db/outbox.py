"""The transactional outbox and the job queue, written with the unit of work's commit.

Domain events become ``outbox_events`` rows, and each gets a procrastinate job that will
deliver it, in the same transaction as the change that raised them: nothing is delivered
before the commit (the queue's NOTIFY fires at commit), nothing committed is lost.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from vetchart.adapters.db.tables import handled_events, outbox_events
from vetchart.domain.events import DomainEvent
from vetchart.services.jobs import DELIVER_EVENT, EVENTS_QUEUE, JOBS_QUEUE
from vetchart.services.ports.outbox import OutboxMessage
from vetchart.services.ports.system import IdGenerator, SecretBox

# Payload key listing the fields that were sealed with the secret box.
SEALED_KEY = "_sealed"

# procrastinate's own insert function (schema of procrastinate 3.10, installed by
# revision 0006): one statement defers any number of jobs inside our transaction. The
# same statement first saves the unit of work's outbox rows (a data-modifying CTE runs
# once, to completion, whether or not the query reads it), so a change's events and
# their delivery jobs cost one round trip.
_JOBS_ARRAY = """
    ARRAY(
        SELECT ROW(j.queue_name, j.task_name, 0, NULL, j.queueing_lock, j.args::jsonb, NULL)
               ::procrastinate_job_to_defer_v1
        FROM unnest(
            CAST(:queues AS text[]),
            CAST(:tasks AS text[]),
            CAST(:locks AS text[]),
            CAST(:args AS text[])
        ) AS j(queue_name, task_name, queueing_lock, args)
    )
"""
_DEFER_JOBS = text(f"SELECT procrastinate_defer_jobs_v1({_JOBS_ARRAY})")
_SAVE_EVENTS_AND_DEFER_JOBS = text(
    f"""
    WITH saved AS (
        INSERT INTO outbox_events (id, event_type, payload, occurred_at)
        SELECT e.id, e.event_type, e.payload::jsonb, e.occurred_at
        FROM unnest(
            CAST(:event_ids AS uuid[]),
            CAST(:event_types AS text[]),
            CAST(:payloads AS text[]),
            CAST(:occurred AS timestamptz[])
        ) AS e(id, event_type, payload, occurred_at)
    )
    SELECT procrastinate_defer_jobs_v1({_JOBS_ARRAY})
    """
)


def _jsonable(value: object) -> object:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list | set | frozenset):
        return [_jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return value


def event_payload(event: DomainEvent, box: SecretBox) -> dict[str, Any]:
    """The event's fields as JSON values; fields marked ``metadata={"sealed": True}``
    (secrets that a handler needs, such as an invitation token) are encrypted."""
    payload: dict[str, Any] = {}
    sealed: list[str] = []
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if item.metadata.get("sealed") and value is not None:
            payload[item.name] = box.seal(str(value))
            sealed.append(item.name)
        else:
            payload[item.name] = _jsonable(value)
    if sealed:
        payload[SEALED_KEY] = sealed
    return payload


class SqlJobQueue:
    """Jobs queued during a unit of work, inserted by its commit."""

    def __init__(self) -> None:
        self._pending: list[tuple[str, str, str | None, str]] = []

    def defer(
        self, task: str, args: Mapping[str, object], *, queueing_lock: str | None = None
    ) -> None:
        self._pending.append((JOBS_QUEUE, task, queueing_lock, json.dumps(_jsonable(args))))

    def defer_delivery(self, event_id: UUID) -> None:
        self._pending.append(
            (EVENTS_QUEUE, DELIVER_EVENT, None, json.dumps({"event_id": str(event_id)}))
        )

    def discard(self) -> None:
        self._pending.clear()

    async def flush(self, session: AsyncSession, events: Sequence[dict[str, Any]] = ()) -> None:
        """Insert the queued jobs, and with them (same statement) the outbox rows of
        ``events`` (from :meth:`SqlOutbox.save`, whose delivery jobs are queued here)."""
        if not self._pending:
            return
        jobs, self._pending = self._pending, []
        params: dict[str, Any] = {
            "queues": [job[0] for job in jobs],
            "tasks": [job[1] for job in jobs],
            "locks": [job[2] for job in jobs],
            "args": [job[3] for job in jobs],
        }
        if not events:
            await session.execute(_DEFER_JOBS, params)
            return
        params.update(
            event_ids=[row["id"] for row in events],
            event_types=[row["event_type"] for row in events],
            payloads=[json.dumps(row["payload"]) for row in events],
            occurred=[row["occurred_at"] for row in events],
        )
        await session.execute(_SAVE_EVENTS_AND_DEFER_JOBS, params)


class SqlOutbox:
    """Writes the unit of work's events; reads and marks them for the worker."""

    def __init__(self, session: AsyncSession, ids: IdGenerator, box: SecretBox) -> None:
        self._session = session
        self._ids = ids
        self._box = box

    def save(
        self, events: Sequence[DomainEvent], now: datetime, jobs: SqlJobQueue
    ) -> list[dict[str, Any]]:
        """The outbox rows of ``events``, each with its delivery job queued on ``jobs``:
        ``jobs.flush(session, rows)`` writes both in one statement."""
        if not events:
            return []
        ids = [self._ids.new_id() for _ in events]
        rows = [
            {
                "id": event_id,
                "event_type": event.event_type(),
                "payload": event_payload(event, self._box),
                "occurred_at": now,
            }
            for event_id, event in zip(ids, events, strict=True)
        ]
        for event_id in ids:
            jobs.defer_delivery(event_id)
        return rows

    async def get(self, event_id: UUID) -> OutboxMessage | None:
        row = (
            await self._session.execute(select(outbox_events).where(outbox_events.c.id == event_id))
        ).one_or_none()
        if row is None:
            return None
        payload = dict(row.payload)
        for name in payload.pop(SEALED_KEY, []):
            payload[name] = self._box.open(payload[name])
        return OutboxMessage(
            id=row.id,
            event_type=row.event_type,
            payload=payload,
            occurred_at=row.occurred_at,
            delivered_at=row.delivered_at,
        )

    async def claim(self, handler: str, event_id: UUID, now: datetime) -> bool:
        result = await self._session.execute(
            pg_insert(handled_events)
            .values(handler=handler, event_id=event_id, handled_at=now)
            .on_conflict_do_nothing()
            .returning(handled_events.c.event_id)
        )
        return result.first() is not None

    async def mark_delivered(self, event_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(outbox_events)
            .where(outbox_events.c.id == event_id, outbox_events.c.delivered_at.is_(None))
            .values(delivered_at=now)
        )

    async def purge_delivered(self, before: datetime) -> int:
        gone = (
            await self._session.execute(
                delete(outbox_events)
                .where(outbox_events.c.delivered_at < before)
                .returning(outbox_events.c.id)
            )
        ).all()
        ids = [row.id for row in gone]
        if ids:
            await self._session.execute(
                delete(handled_events).where(handled_events.c.event_id.in_(ids))
            )
        return len(ids)
