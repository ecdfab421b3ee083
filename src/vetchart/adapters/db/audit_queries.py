"""The audit trail's read side: admin search and a pet's access log (keyset, newest first)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select, tuple_

from vetchart.adapters.db.queries import ReadQueries, page_of
from vetchart.adapters.db.tables import audit_events, users
from vetchart.domain.audit import AuditEvent
from vetchart.services.ports.audit import AccessLogEntry, AuditFilters
from vetchart.services.ports.paging import Page, PageRequest

_EVENT_COLUMNS = [
    audit_events.c.id,
    audit_events.c.occurred_at,
    audit_events.c.actor_id,
    audit_events.c.actor_role,
    audit_events.c.practice_id,
    audit_events.c.action,
    audit_events.c.resource_type,
    audit_events.c.resource_id,
    audit_events.c.outcome,
    audit_events.c.request_id,
    audit_events.c.client_address,
    audit_events.c.user_agent,
    audit_events.c.details,
]
_NEWEST_FIRST = (audit_events.c.occurred_at.desc(), audit_events.c.id.desc())


def _key(item: AuditEvent | AccessLogEntry) -> tuple[object, ...]:
    return (item.occurred_at, item.id)


class SqlAuditQueries(ReadQueries):
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
        if page.after is not None:
            query = query.where(tuple_(e.c.occurred_at, e.c.id) < tuple_(*page.after))
        query = query.order_by(*_NEWEST_FIRST).limit(page.limit + 1)
        found = [AuditEvent(**row) for row in await self._rows(query)]
        return page_of(found, page.limit, _key)

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
        if page.after is not None:
            query = query.where(tuple_(e.c.occurred_at, e.c.id) < tuple_(*page.after))
        query = query.order_by(*_NEWEST_FIRST).limit(page.limit + 1)
        found = [AccessLogEntry(**row) for row in await self._rows(query)]
        return page_of(found, page.limit, _key)
