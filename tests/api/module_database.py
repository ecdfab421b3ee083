"""A database shared by the tests of one module, for suites that build a larger world once.

Same pattern as ``database_url`` in tests/conftest.py (a copy of the migrated template
database), but the caller decides its lifetime, typically a module-scoped fixture:

    @pytest_asyncio.fixture(scope="module", loop_scope="module")
    async def world(pg_server_url, template_database):
        async with template_copy(pg_server_url, template_database, "scope") as url:
            ...

Such tests must run in the module's event loop: ``pytestmark =
pytest.mark.asyncio(loop_scope="module")``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url

from vetchart.adapters.db.engine import async_url, libpq_url


async def _admin(server_url: str, statement: str) -> None:
    conn = await asyncpg.connect(libpq_url(server_url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def template_copy(
    pg_server_url: str, template_database: str, label: str
) -> AsyncIterator[str]:
    """A fresh database at migration head (its SQLAlchemy URL), dropped on exit."""
    name = f"vetchart_{label}_{uuid.uuid4().hex[:12]}"
    await _admin(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    try:
        yield make_url(async_url(pg_server_url)).set(database=name).render_as_string(False)
    finally:
        await _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
