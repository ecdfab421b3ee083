"""Read-side queries: plain selects of exactly what a response needs, keyset-paginated."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from vetchart.adapters.db.repositories import user_from_row
from vetchart.adapters.db.resilience import retry_idempotent_read
from vetchart.adapters.db.tables import users
from vetchart.domain.users import User
from vetchart.services.ports import PageRequest, UserFilters


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqlUserQueries:
    def __init__(self, engine: AsyncEngine, *, read_retries: int) -> None:
        self._engine = engine
        self._retries = read_retries

    async def users_page(
        self, scope_practice_id: UUID | None, filters: UserFilters, page: PageRequest
    ) -> list[User]:
        query = select(users)
        if scope_practice_id is not None:
            query = query.where(users.c.practice_id == scope_practice_id)
        if filters.practice_id is not None:
            query = query.where(users.c.practice_id == filters.practice_id)
        if filters.role is not None:
            query = query.where(users.c.role == filters.role.value)
        if filters.q:
            pattern = like_pattern(filters.q.lower())
            query = query.where(or_(users.c.email.like(pattern), users.c.full_name.ilike(pattern)))
        if page.after is not None:
            query = query.where(tuple_(users.c.full_name, users.c.id) > tuple_(*page.after))
        query = query.order_by(users.c.full_name, users.c.id).limit(page.limit + 1)

        async def run() -> list[User]:
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).mappings().all()
            return [user_from_row(row) for row in rows]

        return await retry_idempotent_read(run, retries=self._retries)
