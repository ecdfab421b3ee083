"""The read side's fast path: a plain asyncpg pool, beside the SQLAlchemy engine.

The unit of work (writes) keeps SQLAlchemy. The hot reads — a pet's records, a pet with
its owner, today's appointments — go straight to asyncpg: no pre-ping, no reset-on-return
round trip, no ORM result processing, prepared statements cached per connection. A read
that is one statement runs without an explicit transaction (one round trip); an audited
read runs one short transaction (see ``adapters/db/audited_reads.py``).

Every connection logs in like the engine's: as the application role, the statement timeout,
UTC. When ``synchronous_commit`` is false (``VETCHART_AUDIT_READS_DURABLE=false``, the
default) the pool's transactions commit without waiting for the WAL flush: only the audit
rows of reads are written through this pool, never a change (docs/audit.md).

Statement observers (``observe``) see every statement this pool executes: the tests
count SQL statements per request through them, as they do on the engines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

import asyncpg
import structlog

from vetchart.adapters.db.engine import libpq_url
from vetchart.adapters.db.resilience import is_transient_connection_error, retry_idempotent_read
from vetchart.config import DatabaseSettings

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

log = structlog.get_logger(__name__)

StatementObserver = Callable[[str], None]
# asyncpg's records, read by column name (``Record`` is a read-only mapping).
Rows = list[Mapping[str, Any]]


# A connection idle this long is closed by the pool (it is reopened on demand).
IDLE_CONNECTION_SECONDS = 300.0


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset when a connection goes back to the pool: this pool's statements
    never change session state (no SET, LISTEN, advisory lock or cursor), and asyncpg
    itself rolls back a transaction left open. asyncpg's default reset would cost one
    more round trip (``RESET ALL; UNLISTEN *; …``) per read."""


class PoolBusyError(Exception):
    """Every pooled connection stayed busy for the pool timeout (answered as a 503)."""


class PgTransaction:
    """The statements of one transaction on one connection (observed like the pool's)."""

    def __init__(
        self, conn: PoolConnectionProxy[asyncpg.Record], notify: Callable[[str], None]
    ) -> None:
        self._conn = conn
        self._notify = notify

    async def fetch(self, sql: str, *args: object) -> Rows:
        self._notify(sql)
        return cast(Rows, await self._conn.fetch(sql, *args))

    async def execute(self, sql: str, *args: object) -> None:
        self._notify(sql)
        await self._conn.execute(sql, *args)


class PgPool:
    """A lazily opened asyncpg pool (the API starts while the database is away)."""

    def __init__(
        self,
        url: str,
        settings: DatabaseSettings,
        *,
        application_name: str,
        synchronous_commit: bool = True,
    ) -> None:
        self._dsn = libpq_url(url)
        server_settings = {"application_name": application_name, "TimeZone": "UTC"}
        if settings.statement_timeout_ms:
            server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
        if not synchronous_commit:
            server_settings["synchronous_commit"] = "off"
        self.synchronous_commit = synchronous_commit
        self._server_settings = server_settings
        self._max_size = settings.pool_size + settings.max_overflow
        self._acquire_timeout = settings.pool_timeout
        self._retries = settings.read_retries
        self._pool: asyncpg.Pool | None = None
        self._closed = False
        self._opening = asyncio.Lock()
        self._observers: list[StatementObserver] = []

    # ------------------------------------------------------------------ observers

    def observe(self, observer: StatementObserver) -> None:
        self._observers.append(observer)

    def unobserve(self, observer: StatementObserver) -> None:
        self._observers.remove(observer)

    def _notify(self, sql: str) -> None:
        for observer in self._observers:
            observer(sql)

    # ------------------------------------------------------------------ connections

    async def _open(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._closed:  # shutting down: never reopen a pool nobody will close
                raise PoolBusyError("the pool is closed")
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=self._max_size,
                    max_inactive_connection_lifetime=IDLE_CONNECTION_SECONDS,
                    server_settings=self._server_settings,
                    timeout=10,
                    reset=_keep_session,
                )
            return self._pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
        pool = await self._open()
        try:
            conn = await pool.acquire(timeout=self._acquire_timeout)
        except TimeoutError as error:
            raise PoolBusyError("no pooled connection became free in time") from error
        try:
            yield conn
        finally:
            await pool.release(conn)

    async def fetch(self, sql: str, *args: object) -> Rows:
        """One read statement (autocommit), retried on a lost connection."""

        async def run() -> Rows:
            self._notify(sql)
            async with self._connection() as conn:
                return cast(Rows, await conn.fetch(sql, *args))

        try:
            return await run()
        except Exception as error:
            if not is_transient_connection_error(error) or self._retries == 0:
                raise
            log.warning("database.read_retried", error=type(error).__name__)
            return await retry_idempotent_read(run, retries=self._retries - 1)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTransaction]:
        """One transaction: committed when the block ends normally, else rolled back."""
        async with self._connection() as conn, conn.transaction():
            yield PgTransaction(conn, self._notify)

    async def aclose(self) -> None:
        self._closed = True
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


class SqlArgs:
    """The positional parameters of a statement assembled from optional parts: ``add``
    appends a value and returns its placeholder (``$n``). ``offset`` is the number of
    parameters that come before these (an audited read's ``$1`` is its chain)."""

    def __init__(self, *values: object, offset: int = 0) -> None:
        self.values: list[object] = list(values)
        self._offset = offset

    def add(self, value: object) -> str:
        self.values.append(value)
        return f"${self._offset + len(self.values)}"

    def conditions(self, *terms: tuple[str, object]) -> list[str]:
        """A list's optional filters: ``"{term} $n"`` for each (term, value) whose value is
        set (not None), in order, the value added (an enum's value)."""
        return [
            f"{term} {self.add(value.value if isinstance(value, Enum) else value)}"
            for term, value in terms
            if value is not None
        ]

    def after(self, columns: str, key: tuple[object, ...] | None, op: str = ">") -> list[str]:
        """A keyset page's condition: ``(columns) > ($n, $m)`` past ``key`` (``op`` "<" for a
        descending order); none on the first page (no key)."""
        if key is None:
            return []
        return [f"({columns}) {op} ({', '.join(self.add(value) for value in key)})"]
