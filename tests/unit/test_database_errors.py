"""Which database failures are a clean 503 and which are retried (adapters/db/errors.py,
adapters/db/resilience.py), for the engine's and the fast pool's errors alike."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from vetchart.adapters.db.errors import (
    DATABASE_DOWN_RETRY_AFTER_SECONDS,
    POOL_BUSY_RETRY_AFTER_SECONDS,
    UNSTORABLE_VALUE_RULE,
    is_data_error,
    translate_database_error,
)
from vetchart.adapters.db.pg import PoolBusyError
from vetchart.adapters.db.resilience import is_transient_connection_error
from vetchart.domain.errors import RuleViolation, Unavailable


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
        asyncpg.UniqueViolationError("duplicate key value"),
        asyncpg.UndefinedColumnError("column does not exist"),
    ],
)
def test_a_bug_or_a_rule_is_neither_retried_nor_hidden_as_unavailable(
    error: BaseException,
) -> None:
    assert not is_transient_connection_error(error)
    assert translate_database_error(error) is None


def test_a_slow_answer_is_not_a_lost_connection() -> None:
    assert not is_transient_connection_error(TimeoutError())


# Data exceptions (SQLSTATE class 22), by class: the real-server cases are in
# tests/api/test_bounded_input.py (both database paths, real statements).
DATA_EXCEPTIONS = [
    asyncpg.exceptions.DataError("data exception"),  # 22000
    asyncpg.InvalidTextRepresentationError("invalid input syntax for type integer"),  # 22P02
    asyncpg.NumericValueOutOfRangeError("integer out of range"),  # 22003
    asyncpg.StringDataRightTruncationError("value too long for type character varying(2)"),
    asyncpg.DatetimeFieldOverflowError("date/time field value out of range"),  # 22008
    asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence"),  # 22P05
    asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding"),  # 22021
    asyncpg.DivisionByZeroError("division by zero"),  # 22012
    asyncpg.exceptions._base.DataError("invalid input for query argument $1"),  # client side
]


def _wrapped(error: Exception) -> sa_exc.DBAPIError:
    """As SQLAlchemy's asyncpg dialect raises it: the adapted DB-API error carrying the
    SQLSTATE, caused by asyncpg's own."""

    class AdaptedError(Exception):
        sqlstate = getattr(error, "sqlstate", None)

    adapted = AdaptedError(str(error))
    adapted.__cause__ = error
    return sa_exc.DBAPIError("SELECT 1", None, adapted)


@pytest.mark.parametrize("error", DATA_EXCEPTIONS, ids=lambda error: type(error).__name__)
def test_a_data_exception_is_a_422_rule_not_a_500(error: Exception) -> None:
    for raised in (error, _wrapped(error)):
        assert is_data_error(raised)
        translated = translate_database_error(raised)
        assert isinstance(translated, RuleViolation)
        assert translated.rule == UNSTORABLE_VALUE_RULE
        assert "SELECT" not in translated.detail


def test_the_class_is_read_from_the_sqlstate_not_the_message() -> None:
    class Coded(Exception):
        sqlstate = "22023"  # invalid_parameter_value

    assert is_data_error(Coded("anything at all"))
    assert not is_data_error(asyncpg.UniqueViolationError("invalid input syntax"))
    assert not is_data_error(ValueError("value out of range"))
