"""Alembic environment (async, asyncpg). The URL comes from vetchart's migrate module."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from vetchart.adapters.db.tables import metadata

config = context.config
target_metadata = metadata


# The job queue's schema belongs to procrastinate (installed by revision 0006); the
# comparison with our table metadata leaves it out.
FOREIGN_PREFIX = "procrastinate"
# Tables made only where the server has the extension they need (revision 0007: the
# pgvector embeddings of the knowledge base); not in the table metadata.
OPTIONAL_TABLES = frozenset({"kb_chunk_embeddings"})


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    if type_ == "table" and name in OPTIONAL_TABLES:
        return False
    return not (type_ == "table" and (name or "").startswith(FOREIGN_PREFIX))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=_ours,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = config.attributes.get("database_url")
    if not url:
        raise RuntimeError("no database URL given to the migrations")
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
asyncio.run(_run_online())
