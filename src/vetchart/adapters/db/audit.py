"""The audit log writer: entries are queued and inserted with the transaction's commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from vetchart.adapters.db.tables import audit_events
from vetchart.domain.audit import AuditEntry, RequestMeta
from vetchart.services.ports import Clock, IdGenerator


class SqlAuditLog:
    def __init__(self, clock: Clock, ids: IdGenerator) -> None:
        self._clock = clock
        self._ids = ids
        self._pending: list[dict[str, Any]] = []

    def record(self, entry: AuditEntry, meta: RequestMeta) -> None:
        self._pending.append(
            {
                "id": self._ids.new_id(),
                "occurred_at": self._clock.now(),
                "actor_id": entry.actor_id,
                "actor_role": entry.actor_role,
                "practice_id": entry.practice_id,
                "action": entry.action,
                "resource_type": entry.resource_type,
                "resource_id": entry.resource_id,
                "outcome": entry.outcome.value,
                "request_id": meta.request_id,
                "client_address": meta.client_address,
                "user_agent": meta.user_agent,
                "details": entry.details,
            }
        )

    def discard(self) -> None:
        self._pending.clear()

    async def flush(self, session: AsyncSession) -> None:
        if self._pending:
            rows, self._pending = self._pending, []
            await session.execute(insert(audit_events), rows)
