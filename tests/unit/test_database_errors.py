"""Which database failures are a clean 503 and which are retried (adapters/db/errors.py,
adapters/db/resilience.py), for the engine's and the fast pool's errors alike."""

from __future__ import annotations

import asyncpg
import pytest

from vetchart.adapters.db.errors import (
    DATABASE_DOWN_RETRY_AFTER_SECONDS,
    POOL_BUSY_RETRY_AFTER_SECONDS,
    translate_database_error,
)
from vetchart.adapters.db.pg import PoolBusyError
from vetchart.adapters.db.resilience import is_transient_connection_error
from vetchart.domain.errors import Unavailable


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.LockNotAvailableError("could not obtain lock"),
        PoolBusyError("no pooled connection became free in time"),
    ],
)
def test_a_busy_server_is_a_503_to_retry_shortly(error: BaseException) -> None:
    translated = translate_database_error(error)
    assert isinstance(translated, Unavailable)
    assert translated.retry_after_seconds == POOL_BUSY_RETRY_AFTER_SECONDS
    assert not is_transient_connection_error(error)  # not a lost connection: no retry


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
)
def test_a_lost_or_refused_connection_is_retried_then_a_503(error: BaseException) -> None:
    assert is_transient_connection_error(error)
    translated = translate_database_error(error)
    assert isinstance(translated, Unavailable)
    assert translated.retry_after_seconds == DATABASE_DOWN_RETRY_AFTER_SECONDS


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.exceptions.DataError("invalid input for query argument $1"),
        asyncpg.UniqueViolationError("duplicate key value"),
    ],
)
def test_a_bug_or_a_rule_is_neither_retried_nor_hidden_as_unavailable(
    error: BaseException,
) -> None:
    assert not is_transient_connection_error(error)
    assert translate_database_error(error) is None


def test_a_slow_answer_is_not_a_lost_connection() -> None:
    assert not is_transient_connection_error(TimeoutError())
