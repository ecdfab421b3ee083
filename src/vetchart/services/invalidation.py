"""The one path by which a change forgets what is cached: the outbox events it wrote.

Every change that something cached depends on raises a domain event, saved to the outbox
in the change's own transaction. ``CacheInvalidation`` maps those events to the caches
they make stale:

* the dashboard events (``DASHBOARD_EVENTS``): the practice's dashboards (answers);
* ``SessionsChanged`` (``SESSION_EVENTS``): the principals of the named sessions (who is
  signed in, with which role, MFA and name), recorded by the auth and user services when
  they revoke sessions (logout, sign-out everywhere, revoking one session, a reused
  refresh token, a password change, a deactivation) or change what a principal carries
  (a role, MFA on or off, the name).

It is called

* in-process, right after the unit of work commits, with the events that commit wrote
  (bootstrap passes ``after_commit`` to the unit of work), so the next request in this
  process is already refused or sees the change (and, with Redis, every process misses
  the dashboard);
* again when the outbox dispatcher delivers each event (``handler()`` and
  ``sessions_handler()``), so a process that died between its commit and that call, or
  the worker's own changes, still invalidate. The principal cache is per process: the
  delivery clears it in the process that delivers (the worker, or the API process with
  the embedded worker). With Redis, the named sessions are also published
  (``SessionBroadcast``), and every other process forgets them at once; without it, any
  other process forgets within ``VETCHART_SESSION_CACHE_SECONDS`` (at most 2 s).

Invalidating twice is harmless (a new dashboard generation, see adapters/cache.py; a
session forgotten twice). Nothing else invalidates these caches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from vetchart.domain.sessions import SessionsChanged
from vetchart.services.jobs import EventHandler
from vetchart.services.ports.identity import PrincipalCache, SessionBroadcast
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
# A signed-in session's principal.
SESSION_EVENTS = frozenset({SessionsChanged.event_type()})


def sessions_changed(
    uow: UnitOfWork, user_id: UUID, session_ids: Iterable[UUID], reason: str
) -> None:
    """Record that these sessions' cached principals are stale (nothing when none)."""
    ids = tuple(dict.fromkeys(session_ids))
    if ids:
        uow.record(SessionsChanged(user_id=user_id, session_ids=ids, reason=reason))


class CacheInvalidation:
    # The handlers' names are stored with every claim of the outbox (renaming one re-runs it).
    name = "cache.dashboard"
    sessions_name = "cache.sessions"
    EVENTS = DASHBOARD_EVENTS

    def __init__(
        self,
        dashboard: DashboardCache,
        principals: PrincipalCache,
        broadcast: SessionBroadcast | None = None,
    ) -> None:
        self._dashboard = dashboard
        self._principals = principals
        self._broadcast = broadcast

    async def invalidate(self, messages: Sequence[OutboxMessage]) -> None:
        """Forget what ``messages`` made stale: each named practice's dashboards, once, and
        the named sessions' principals."""
        practices: dict[UUID, None] = {}
        sessions: dict[UUID, None] = {}
        for message in messages:
            if message.event_type in DASHBOARD_EVENTS:
                practices[UUID(str(message.payload["practice_id"]))] = None
            elif message.event_type in SESSION_EVENTS:
                sessions.update((UUID(str(s)), None) for s in message.payload["session_ids"])
        if sessions:
            self._principals.invalidate(list(sessions))
            if self._broadcast is not None:
                await self._broadcast.publish(list(sessions))
        for practice_id in practices:
            await self._dashboard.invalidate(practice_id)

    def handler(self) -> EventHandler:
        """The outbox dispatcher's subscriber for the dashboards (run by the worker per
        delivered event)."""
        return EventHandler(name=self.name, event_types=DASHBOARD_EVENTS, handle=self.handle)

    def sessions_handler(self) -> EventHandler:
        """The outbox dispatcher's subscriber for the principal cache."""
        return EventHandler(name=self.sessions_name, event_types=SESSION_EVENTS, handle=self.handle)

    async def handle(self, uow: UnitOfWork, message: OutboxMessage) -> None:
        await self.invalidate([message])
