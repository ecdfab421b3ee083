"""Ports the use cases own. Adapters implement them; bootstrap wires them."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from vetchart.domain.events import DomainEvent


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, UTC."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> UUID:
        """A new time-ordered (UUIDv7) identifier."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Rolls back on exit unless ``commit()`` was awaited.

    Usage in a service method::

        async with self.uow as uow:
            ...
            await uow.commit()
    """

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    def record(self, event: DomainEvent) -> None:
        """Collect a domain event; it is saved with the transaction's commit."""
        ...

    def collected_events(self) -> list[DomainEvent]:
        """The events recorded in this unit of work so far (oldest first)."""
        ...
