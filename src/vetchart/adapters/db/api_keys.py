"""The API keys' repository (only the digest of a key's secret is stored)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vetchart.adapters.db.constraints import translated
from vetchart.adapters.db.queries import newest_first
from vetchart.adapters.db.rows import EntityRows, columns_of
from vetchart.adapters.db.tables import api_keys
from vetchart.domain.api_keys import ApiKey
from vetchart.domain.policy import Action
from vetchart.services.ports.paging import Page, PageRequest

_KEYS = EntityRows(
    ApiKey,
    columns_of(api_keys),
    read={"scopes": lambda values: tuple(Action(value) for value in values), "secret_hash": bytes},
    write={"scopes": lambda actions: [action.value for action in actions]},
)


class SqlApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: ApiKey) -> None:
        async with translated(self._session):
            await self._session.execute(insert(api_keys).values(**_KEYS.values(key)))

    async def get(self, key_id: UUID, *, for_update: bool = False) -> ApiKey | None:
        query = select(api_keys).where(api_keys.c.id == key_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return _KEYS.entity(row) if row else None

    async def by_public_id(self, public_id: str) -> ApiKey | None:
        query = select(api_keys).where(api_keys.c.public_id == public_id)
        row = (await self._session.execute(query)).mappings().first()
        return _KEYS.entity(row) if row else None

    async def page(self, practice_id: UUID, page: PageRequest) -> Page[ApiKey]:
        query = select(api_keys).where(api_keys.c.practice_id == practice_id)
        order = (api_keys.c.created_at, api_keys.c.id)
        rows = await newest_first(self._session, query, order, page)
        return Page(items=[_KEYS.entity(row) for row in rows.items], next_key=rows.next_key)

    async def revoke(self, key_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def touch(self, key_id: UUID, now: datetime, *, unless_since: datetime) -> None:
        await self._session.execute(
            update(api_keys)
            .where(
                api_keys.c.id == key_id,
                or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < unless_since),
            )
            .values(last_used_at=now)
        )
