"""Audit ports: the audit log a unit of work writes with its commit, and the audit read
side (search, a pet's access log)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from vetchart.domain.audit import AuditEntry, AuditEvent, RequestMeta
from vetchart.services.ports.paging import Page, PageRequest


class AuditLog(Protocol):
    def record(self, entry: AuditEntry, meta: RequestMeta) -> None:
        """Queue an audit row; it is written with the unit of work's commit."""
        ...


@dataclass(frozen=True)
class AuditFilters:
    practice_id: UUID | None = None  # the caller's scope (None: every practice)
    actor_id: UUID | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    outcome: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


@dataclass(frozen=True)
class AccessLogEntry:
    id: UUID
    occurred_at: datetime
    actor_id: UUID | None
    actor_name: str | None
    actor_role: str | None
    practice_id: UUID | None
    action: str
    resource_type: str
    resource_id: str | None


class AuditQueries(Protocol):
    async def search(self, filters: AuditFilters, page: PageRequest) -> Page[AuditEvent]:
        """Newest first: keyset (occurred_at, id) descending."""
        ...

    async def access_log(self, pet_id: UUID, page: PageRequest) -> Page[AccessLogEntry]:
        """Successful reads and changes of the pet's data, newest first."""
        ...
