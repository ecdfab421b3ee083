"""Background work: delivering outbox events to their handlers, and housekeeping.

The worker (``vetchart worker``, procrastinate) runs these. Delivery is at least once;
every handler runs inside a transaction that first claims (handler, event) in
``handled_events``, so a handler that is run twice acts once: database effects commit
with the claim, and a crash before the commit leaves neither.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from vetchart.domain.events import DomainEvent
from vetchart.services.ports.outbox import OutboxMessage
from vetchart.services.ports.system import Clock, IdempotencyStore
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

# Task names (stable: they are stored in queued jobs) and queues.
DELIVER_EVENT = "vetchart.deliver_event"
HOUSEKEEPING = "vetchart.housekeeping"
RETRY_STALLED = "vetchart.retry_stalled_jobs"
# The reminder scan (services/messages.py ReminderScan), every 10 minutes.
REMINDERS = "vetchart.reminders"
DELIVER_WEBHOOK = "vetchart.deliver_webhook"
EVENTS_QUEUE = "events"
JOBS_QUEUE = "jobs"

# Delivered events are kept this long for inspection, then purged.
OUTBOX_RETENTION = timedelta(days=7)

HandlerFunction = Callable[[UnitOfWork, OutboxMessage], Awaitable[None]]


@dataclass(frozen=True)
class EventHandler:
    """``name`` is stored with every claim: renaming a handler re-runs it on old events."""

    name: str
    event_types: frozenset[str]
    handle: HandlerFunction

    @classmethod
    def on(cls, name: str, event: type[DomainEvent], handle: HandlerFunction) -> EventHandler:
        """The handler ``name`` of one event type."""
        return cls(name=name, event_types=frozenset({event.event_type()}), handle=handle)


@dataclass(frozen=True)
class Delivery:
    found: bool
    handled: tuple[str, ...]  # handlers that ran now
    skipped: tuple[str, ...]  # handlers that had already handled the event


class EventDelivery:
    def __init__(
        self, *, uow: UnitOfWorkFactory, clock: Clock, handlers: Sequence[EventHandler]
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._handlers = tuple(handlers)
        names = [handler.name for handler in self._handlers]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate event handler names: {names}")

    def handlers_for(self, event_type: str) -> list[EventHandler]:
        return [h for h in self._handlers if event_type in h.event_types]

    async def deliver(self, event_id: UUID) -> Delivery:
        async with self._uow() as uow:
            message = await uow.outbox.get(event_id)
        if message is None:  # purged after delivery: nothing left to do
            return Delivery(found=False, handled=(), skipped=())
        handled: list[str] = []
        skipped: list[str] = []
        for handler in self.handlers_for(message.event_type):
            async with self._uow() as uow:
                if not await uow.outbox.claim(handler.name, event_id, self._clock.now()):
                    skipped.append(handler.name)
                    continue
                await handler.handle(uow, message)
                await uow.commit()
            handled.append(handler.name)
        if message.delivered_at is None:
            async with self._uow() as uow:
                await uow.outbox.mark_delivered(event_id, self._clock.now())
                await uow.commit()
        return Delivery(found=True, handled=tuple(handled), skipped=tuple(skipped))


# Stored objects no row names are deleted once they are this old.
ORPHAN_AGE = timedelta(days=1)


class Housekeeping:
    """Periodic clean-up (every 10 minutes, one worker at a time): expired idempotency
    keys, delivered outbox events past their retention, sign-in throttle keys idle for
    ``throttle_retention`` (and not locked), orphaned stored objects."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        idempotency: IdempotencyStore,
        throttle_retention: timedelta = timedelta(days=31),
        sweeps: Mapping[str, Callable[[timedelta], Awaitable[int]]] | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._idempotency = idempotency
        self._throttle_retention = throttle_retention
        self._sweeps = dict(sweeps or {})

    async def run(self) -> dict[str, int]:
        now = self._clock.now()
        keys = await self._idempotency.purge_expired(now)
        async with self._uow() as uow:
            events = await uow.outbox.purge_delivered(now - OUTBOX_RETENTION)
            throttles = await uow.throttles.purge_idle(now - self._throttle_retention, now)
            await uow.commit()
        done = {"idempotency_keys": keys, "outbox_events": events, "throttle_keys": throttles}
        for name, sweep in self._sweeps.items():
            done[name] = await sweep(ORPHAN_AGE)
        return done
