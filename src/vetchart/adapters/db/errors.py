"""Translate database-driver failures into domain errors (one place for the API to use)."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

from vetchart.adapters.db.pg import PoolBusyError
from vetchart.adapters.db.resilience import ASYNCPG_CONNECTION_ERRORS
from vetchart.domain.errors import DomainError, Unavailable

POOL_BUSY_RETRY_AFTER_SECONDS = 1
# The server is at capacity or a statement ran out of time (too many connections, the
# statement timeout, a lock not granted in time): busy, not broken.
_BUSY_SERVER = (
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
    asyncpg.LockNotAvailableError,
)
DATABASE_DOWN_RETRY_AFTER_SECONDS = 5


def translate_database_error(error: BaseException) -> DomainError | None:
    """A domain error for infrastructure failures worth a clean 503; None otherwise."""
    cause = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    if (
        isinstance(error, sa_exc.TimeoutError | PoolBusyError)
        or isinstance(cause, _BUSY_SERVER)
        or isinstance(getattr(cause, "__cause__", None), _BUSY_SERVER)
    ):
        # QueuePool exhausted: every connection is busy. Answer fast instead of hanging.
        return Unavailable(
            "The service is busy; try again shortly.",
            retry_after_seconds=POOL_BUSY_RETRY_AFTER_SECONDS,
        )
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return Unavailable(
            "The database connection was lost; try again.",
            retry_after_seconds=DATABASE_DOWN_RETRY_AFTER_SECONDS,
        )
    if isinstance(
        error,
        (
            sa_exc.InterfaceError,
            sa_exc.OperationalError,
            ConnectionError,
            OSError,
            *ASYNCPG_CONNECTION_ERRORS,
        ),
    ):
        # OSError also covers a database that refuses connections (asyncpg raises it
        # unwrapped); the message stays generic since other services raise it too.
        return Unavailable(
            "A service this request depends on is unavailable; try again later.",
            retry_after_seconds=DATABASE_DOWN_RETRY_AFTER_SECONDS,
        )
    return None
