"""The one path by which a change forgets cached answers: the outbox events it wrote.

Every change that a cached answer depends on already raises a domain event, saved to the
outbox in the change's own transaction. ``CacheInvalidation`` maps those events to the
caches they make stale (today: the practice's dashboards). It is called

* in-process, right after the unit of work commits, with the events that commit wrote
  (bootstrap passes ``after_commit`` to the unit of work), so the next read in this
  process (and, with Redis, in every process) already misses;
* again when the outbox dispatcher delivers each event (``handler()``), so a process that
  died between its commit and that call, or the worker's own changes, still invalidate.

Invalidating twice is harmless (a new generation, see adapters/cache.py). Nothing else
invalidates the dashboard cache. The sessions' principal cache is not a cache of answers
but of who is signed in; it is forgotten by the auth services where they revoke (no event
is written for a revocation: docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from vetchart.services.jobs import EventHandler
from vetchart.services.ports.outbox import OutboxMessage
from vetchart.services.ports.schedule import DashboardCache
from vetchart.services.ports.unit_of_work import UnitOfWork

# A dashboard shows the practice's appointments, visits and follow-ups (records).
DASHBOARD_EVENTS = frozenset(
    {
        "AppointmentChanged",
        "VisitChanged",
        "MedicalRecordCreated",
        "MedicalRecordAmended",
        "MedicalRecordSigned",
        "MedicalRecordEnteredInError",
    }
)


class CacheInvalidation:
    # The handler's name is stored with every claim of the outbox (renaming it re-runs it).
    name = "cache.dashboard"
    EVENTS = DASHBOARD_EVENTS

    def __init__(self, dashboard: DashboardCache) -> None:
        self._dashboard = dashboard

    async def invalidate(self, messages: Sequence[OutboxMessage]) -> None:
        """Forget what ``messages`` made stale: each named practice's dashboards, once."""
        practices: dict[UUID, None] = {}
        for message in messages:
            if message.event_type in self.EVENTS:
                practices[UUID(str(message.payload["practice_id"]))] = None
        for practice_id in practices:
            await self._dashboard.invalidate(practice_id)

    def handler(self) -> EventHandler:
        """The outbox dispatcher's subscriber (run by the worker per delivered event)."""
        return EventHandler(name=self.name, event_types=self.EVENTS, handle=self.handle)

    async def handle(self, uow: UnitOfWork, message: OutboxMessage) -> None:
        await self.invalidate([message])
