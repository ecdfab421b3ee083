"""The SQLAlchemy Unit of Work: one session, one transaction, explicit lifecycle."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from vetchart.domain.events import DomainEvent


class SqlAlchemyUnitOfWork:
    """Opens a session on enter, closes it on exit; rolls back unless committed.

    Repositories receive ``self.session`` and never commit or flush on their own.
    A unit of work object is single-use per ``async with`` block.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory
        self._session: AsyncSession | None = None
        self._events: list[DomainEvent] = []
        self._committed = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use 'async with uow:'")
        return self._session

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("this unit of work is already open")
        self._session = self._session_factory()
        self._events = []
        self._committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if not self._committed:
                await session.rollback()
        finally:
            await session.close()

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True

    async def rollback(self) -> None:
        await self.session.rollback()
        self._events.clear()

    def record(self, event: DomainEvent) -> None:
        self._events.append(event)

    def collected_events(self) -> list[DomainEvent]:
        return list(self._events)
