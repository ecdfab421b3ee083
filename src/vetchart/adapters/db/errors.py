"""Translate database-driver failures into domain errors (one place for the API to use).

- busy (pool exhausted, too many connections, statement timeout, lock timeout): 503 soon;
- connection lost or refused: 503;
- a value the database refuses as data - SQLSTATE class 22, "data exception": invalid
  text representation, numeric out of range, string too long, datetime field overflow,
  untranslatable character, NUL in text... - or that asyncpg cannot even encode for it:
  422, never a 500. By SQLSTATE class, not by message, for the engine's errors
  (SQLAlchemy wrapping asyncpg) and the fast path's (asyncpg's own) alike.
"""

from __future__ import annotations

import asyncpg
import structlog
from asyncpg.exceptions import _base as asyncpg_base
from sqlalchemy import exc as sa_exc

from vetchart.adapters.db.pg import PoolBusyError
from vetchart.adapters.db.resilience import ASYNCPG_CONNECTION_ERRORS
from vetchart.domain.errors import DomainError, RuleViolation, Unavailable

log = structlog.get_logger(__name__)

POOL_BUSY_RETRY_AFTER_SECONDS = 1
# The server is at capacity or a statement ran out of time (too many connections, the
# statement timeout, a lock not granted in time): busy, not broken.
_BUSY_SERVER = (
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
    asyncpg.LockNotAvailableError,
)
DATABASE_DOWN_RETRY_AFTER_SECONDS = 5
# SQLSTATE class 22: data exception.
DATA_EXCEPTION_CLASS = "22"
UNSTORABLE_VALUE_RULE = "input.unstorable_value"
UNSTORABLE_VALUE = (
    "A value in the request cannot be stored: it is out of range, too long, or not valid "
    "text. Check the values sent."
)


def sqlstate_of(error: BaseException) -> str | None:
    """The SQLSTATE of a database error: asyncpg's own, or the one SQLAlchemy carries."""
    candidates: list[object] = [error, error.__cause__]
    if isinstance(error, sa_exc.DBAPIError):
        candidates[1:1] = [error.orig, getattr(error.orig, "__cause__", None)]
    for candidate in candidates:
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str) and code:
            return code
    return None


def is_data_error(error: BaseException) -> bool:
    """A value the database refused as data (class 22), or that asyncpg could not encode
    for a parameter (its client-side ``DataError``: an int beyond int32, ...)."""
    sqlstate = sqlstate_of(error)
    if sqlstate is not None:
        return sqlstate.startswith(DATA_EXCEPTION_CLASS)
    cause = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    return any(
        isinstance(candidate, asyncpg_base.DataError)
        for candidate in (cause, getattr(cause, "__cause__", None))
    )


def translate_database_error(error: BaseException) -> DomainError | None:
    """A domain error for infrastructure failures worth a clean 503, and for data the
    database refused (422); None otherwise."""
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
    if is_data_error(error):
        # Mostly input the checks before the database did not catch; logged loudly, since
        # an error of our own SQL would look the same to the client.
        log.error(
            "database.data_error_answered_422",
            sqlstate=sqlstate_of(error),
            error=type(cause).__name__,
        )
        return RuleViolation(UNSTORABLE_VALUE, rule=UNSTORABLE_VALUE_RULE)
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
