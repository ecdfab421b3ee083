"""The audit trail's read side: admin search and a pet's access log (keyset, newest first)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.engine import RowMapping

from vetchart.adapters.db.queries import ReadQueries
from vetchart.adapters.db.rows import columns_for
from vetchart.adapters.db.tables import audit_events, users
from vetchart.domain.audit import AuditEvent
from vetchart.services.ports.audit import AccessLogEntry, AuditFilters
from vetchart.services.ports.paging import Page, PageRequest

T = TypeVar("T")

_EVENT_COLUMNS = columns_for(audit_events, AuditEvent)


class SqlAuditQueries(ReadQueries):
    async def _newest_first(
        self, query: Select[Any], page: PageRequest, item: Callable[[RowMapping], T]
    ) -> Page[T]:
        order = (audit_events.c.occurred_at, audit_events.c.id)
        return await self._page(query, page, order, item, newest_first=True)

    async def search(self, filters: AuditFilters, page: PageRequest) -> Page[AuditEvent]:
        e = audit_events
        query = select(*_EVENT_COLUMNS)
        equal = {
            e.c.practice_id: filters.practice_id,
            e.c.actor_id: filters.actor_id,
            e.c.action: filters.action,
            e.c.resource_type: filters.resource_type,
            e.c.resource_id: filters.resource_id,
            e.c.outcome: filters.outcome,
        }
        for column, value in equal.items():
            if value is not None:
                query = query.where(column == value)
        if filters.occurred_from is not None:
            query = query.where(e.c.occurred_at >= filters.occurred_from)
        if filters.occurred_to is not None:
            query = query.where(e.c.occurred_at < filters.occurred_to)
        return await self._newest_first(query, page, lambda row: AuditEvent(**row))

    async def access_log(self, pet_id: UUID, page: PageRequest) -> Page[AccessLogEntry]:
        e = audit_events
        query = (
            select(
                e.c.id,
                e.c.occurred_at,
                e.c.actor_id,
                users.c.full_name.label("actor_name"),
                e.c.actor_role,
                e.c.practice_id,
                e.c.action,
                e.c.resource_type,
                e.c.resource_id,
            )
            .select_from(e.outerjoin(users, users.c.id == e.c.actor_id))
            .where(e.c.pet_id == pet_id, e.c.outcome == "success")
        )
        return await self._newest_first(query, page, lambda row: AccessLogEntry(**row))
