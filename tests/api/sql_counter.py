"""Counting the SQL statements a request sends to the database.

    with count_statements(app) as counter:
        response = await client.get("/api/v1/pets", headers=...)
    assert counter.count <= 3, counter.report()

A ``before_cursor_execute`` listener is attached to every engine of the app's container
(the primary and, when configured, the read replica), and an observer to its fast-path
asyncpg pool (``container.fast_pool``, adapters/db/pg.py), for the duration of the block,
and removed afterwards. Every statement the driver executes is counted, including the
authenticated-session lookup (unless it is served from the in-process principal cache:
build the app with ``session_cache_seconds=0`` to count it deterministically). BEGIN,
COMMIT and ROLLBACK issued by the driver's transaction API are not cursor executions and
are not counted. Nothing else may talk to the database during the block, or it is counted
too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class StatementCounter:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()

    def report(self) -> str:
        """The statements seen, numbered, for an assertion message."""
        lines = [f"{self.count} statement(s):"]
        lines += [f"  {i}. {' '.join(s.split())[:300]}" for i, s in enumerate(self.statements, 1)]
        return "\n".join(lines)


def app_engines(app: FastAPI) -> list[AsyncEngine]:
    """The container's engines, each once (the read engine may be the primary)."""
    container = app.state.container
    engines: list[AsyncEngine] = [container.engine]
    read_engine = getattr(container, "read_engine", None)
    if read_engine is not None and read_engine is not container.engine:
        engines.append(read_engine)
    return engines


@contextmanager
def count_statements(*targets: FastAPI | AsyncEngine) -> Iterator[StatementCounter]:
    """Count statements executed on the given apps' (or engines') engines in the block."""
    counter = StatementCounter()
    sync_engines: list[Engine] = []
    pools = []
    for target in targets:
        if isinstance(target, FastAPI):
            container = target.state.container
            pools.append(container.fast_pool)
            if container.fast_read_pool is not container.fast_pool:
                pools.append(container.fast_read_pool)
        engines = app_engines(target) if isinstance(target, FastAPI) else [target]
        for engine in engines:
            if engine.sync_engine not in sync_engines:
                sync_engines.append(engine.sync_engine)

    def listener(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        counter.statements.append(statement)

    for engine in sync_engines:
        event.listen(engine, "before_cursor_execute", listener)
    for pool in pools:
        pool.observe(counter.statements.append)
    try:
        yield counter
    finally:
        for engine in sync_engines:
            event.remove(engine, "before_cursor_execute", listener)
        for pool in pools:
            pool.unobserve(counter.statements.append)


async def counted_request(
    app: FastAPI, client: AsyncClient, method: str, url: str, **kwargs: Any
) -> tuple[Response, StatementCounter]:
    """One request through ``client`` and the statements it executed."""
    with count_statements(app) as counter:
        response = await client.request(method, url, **kwargs)
    return response, counter
