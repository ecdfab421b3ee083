"""Bounded retries for the database: start-up wait and idempotent reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import structlog
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")

_STARTUP_MAX_BACKOFF_SECONDS = 2.0
# What PostgreSQL answers to a connection asking for a role that does not exist.
INVALID_PARAMETER_VALUE = "22023"
_READ_RETRY_MAX_BACKOFF_SECONDS = 0.5
# A connection lost or refused, as the plain asyncpg pool of the fast path meets it
# (adapters/db/pg.py). Not asyncpg's other InterfaceErrors: a value that cannot be
# encoded, or a connection used twice at once, is a bug to surface, not to retry.
ASYNCPG_CONNECTION_ERRORS = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


def is_transient_connection_error(error: BaseException) -> bool:
    """A dropped or refused connection: safe to retry an idempotent read on a new one."""
    if isinstance(error, sa_exc.DBAPIError):
        if isinstance(getattr(error.orig, "__cause__", None), asyncpg.exceptions._base.DataError):
            return False  # a value asyncpg cannot encode (SQLAlchemy's InterfaceError)
        return bool(error.connection_invalidated) or isinstance(
            error, sa_exc.InterfaceError | sa_exc.OperationalError
        )
    if isinstance(error, TimeoutError):
        return False  # a slow answer is not a lost connection
    return isinstance(error, (ConnectionError, OSError, *ASYNCPG_CONNECTION_ERRORS))


async def wait_for_database(engine: AsyncEngine, *, timeout_seconds: float) -> None:
    """Block start-up until the database answers, with bounded exponential backoff."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_transient_connection_error),
        stop=stop_after_delay(timeout_seconds),
        wait=wait_exponential_jitter(multiplier=0.1, max=_STARTUP_MAX_BACKOFF_SECONDS, jitter=0.25),
        reraise=True,
        before_sleep=lambda state: log.warning("database.waiting", attempt=state.attempt_number),
    ):
        with attempt:
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            except sa_exc.DBAPIError as error:
                sqlstate = str(getattr(error.orig, "sqlstate", None) or "")
                if sqlstate != INVALID_PARAMETER_VALUE and not sqlstate.startswith("28"):
                    raise
                # The server answered but refused the application role's login (class
                # 28): the schema is not migrated yet, or the role's password is wrong.
                # Start anyway; readiness stays 503 until it logs in.
                log.warning("database.app_role_missing", hint="run 'vetchart db upgrade'")


async def retry_idempotent_read(operation: Callable[[], Awaitable[T]], *, retries: int) -> T:
    """Run a read-only operation, retrying it ``retries`` times on a lost connection.

    Only for reads: a write that lost its connection may or may not have committed.
    """
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_transient_connection_error),
        stop=stop_after_attempt(retries + 1),
        wait=wait_exponential_jitter(
            multiplier=0.05, max=_READ_RETRY_MAX_BACKOFF_SECONDS, jitter=0.05
        ),
        reraise=True,
    ):
        with attempt:
            return await operation()
    raise AssertionError("unreachable")  # pragma: no cover
