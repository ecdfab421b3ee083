"""SqlAlchemyUnitOfWork on the real database, and the bounded retry of idempotent reads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from vetchart.adapters.db.engine import create_engine, session_factory
from vetchart.adapters.db.resilience import retry_idempotent_read
from vetchart.adapters.db.uow import SqlAlchemyUnitOfWork
from vetchart.adapters.security.mfa import FernetSecretBox
from vetchart.adapters.system import SystemClock, Uuid7Ids
from vetchart.config import DatabaseSettings
from vetchart.domain.audit import AuditKey
from vetchart.domain.events import DomainEvent

INSERT = text("INSERT INTO uow_scratch (id, note) VALUES (:id, :note)")


@dataclass(frozen=True, kw_only=True)
class PetRegistered(DomainEvent):
    pet_id: int


@dataclass(frozen=True, kw_only=True)
class PetRenamed(DomainEvent):
    pet_id: int
    new_name: str


class Boom(Exception):
    pass


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(
        database_url,
        DatabaseSettings(url=database_url, pool_size=2, max_overflow=0, app_role=""),
        application_name="vetchart-test-uow",
    )
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE uow_scratch (id integer PRIMARY KEY, note text)"))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


NewUow = Callable[[], SqlAlchemyUnitOfWork]


@pytest.fixture
def new_uow(sessions: async_sessionmaker[AsyncSession]) -> NewUow:
    return lambda: SqlAlchemyUnitOfWork(
        sessions, SystemClock(), Uuid7Ids(), FernetSecretBox("t" * 40), AuditKey(b"k" * 32)
    )


async def rows(engine: AsyncEngine) -> list[tuple[int, str]]:
    """What another connection sees: only committed rows."""
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT id, note FROM uow_scratch ORDER BY id"))
        return [(row.id, row.note) for row in result]


async def test_without_commit_everything_is_rolled_back(
    engine: AsyncEngine, new_uow: NewUow
) -> None:
    uow = new_uow()
    async with uow:
        await uow.session.execute(INSERT, {"id": 1, "note": "never committed"})
        # Visible inside the transaction, so the insert really happened...
        inside = await uow.session.scalar(text("SELECT count(*) FROM uow_scratch"))
        assert inside == 1
    # ...and is gone after the block.
    assert await rows(engine) == []


async def test_commit_makes_the_work_durable(engine: AsyncEngine, new_uow: NewUow) -> None:
    uow = new_uow()
    async with uow:
        await uow.session.execute(INSERT, {"id": 1, "note": "kept"})
        await uow.commit()
    assert await rows(engine) == [(1, "kept")]


async def test_work_after_the_commit_is_not_committed(engine: AsyncEngine, new_uow: NewUow) -> None:
    uow = new_uow()
    async with uow:
        await uow.session.execute(INSERT, {"id": 1, "note": "committed"})
        await uow.commit()
        await uow.session.execute(INSERT, {"id": 2, "note": "after the commit"})
    assert await rows(engine) == [(1, "committed")]


async def test_an_exception_rolls_back_and_propagates(engine: AsyncEngine, new_uow: NewUow) -> None:
    uow = new_uow()

    async def insert_then_fail() -> None:
        async with uow:
            await uow.session.execute(INSERT, {"id": 1, "note": "doomed"})
            await uow.session.flush()
            raise Boom

    with pytest.raises(Boom):
        await insert_then_fail()
    assert await rows(engine) == []


async def test_a_database_error_rolls_back_the_whole_unit(
    engine: AsyncEngine, new_uow: NewUow
) -> None:
    uow = new_uow()

    async def insert_twice() -> None:
        async with uow:
            await uow.session.execute(INSERT, {"id": 1, "note": "first"})
            await uow.session.execute(INSERT, {"id": 1, "note": "duplicate key"})
            await uow.commit()

    with pytest.raises(sa_exc.IntegrityError):
        await insert_twice()
    assert await rows(engine) == []


async def test_explicit_rollback_discards_work_and_events(
    engine: AsyncEngine, new_uow: NewUow
) -> None:
    uow = new_uow()
    async with uow:
        await uow.session.execute(INSERT, {"id": 1, "note": "rolled back"})
        uow.record(PetRegistered(pet_id=1))
        await uow.rollback()
        assert uow.collected_events() == []
        await uow.session.execute(INSERT, {"id": 2, "note": "kept"})
        await uow.commit()
    assert await rows(engine) == [(2, "kept")]


async def test_refuses_to_reenter_while_open(engine: AsyncEngine, new_uow: NewUow) -> None:
    uow = new_uow()
    async with uow:
        await uow.session.execute(INSERT, {"id": 1, "note": "outer"})
        with pytest.raises(RuntimeError, match="already open"):
            async with uow:
                pytest.fail("entered a unit of work that was already open")
        # The refused re-entry neither closed nor committed the outer unit.
        await uow.session.execute(INSERT, {"id": 2, "note": "still open"})
        await uow.commit()
    assert await rows(engine) == [(1, "outer"), (2, "still open")]


async def test_session_is_only_available_inside_the_block(
    new_uow: NewUow,
) -> None:
    uow = new_uow()
    with pytest.raises(RuntimeError, match="not open"):
        _ = uow.session
    async with uow:
        assert uow.session is uow.session
    with pytest.raises(RuntimeError, match="not open"):
        _ = uow.session


async def test_collects_recorded_events_in_order(
    new_uow: NewUow,
) -> None:
    uow = new_uow()
    registered = PetRegistered(pet_id=7)
    renamed = PetRenamed(pet_id=7, new_name="Rex")
    async with uow:
        assert uow.collected_events() == []
        uow.record(registered)
        uow.record(renamed)
        collected = uow.collected_events()
        assert collected == [registered, renamed]
        assert [event.event_type() for event in collected] == ["PetRegistered", "PetRenamed"]
        collected.clear()  # a copy: the caller cannot drop the unit's events
        assert uow.collected_events() == [registered, renamed]
        await uow.commit()
    # Committed events stay readable after the block (for publishing).
    assert uow.collected_events() == [registered, renamed]

    # A new block on the same object starts with no events.
    async with uow:
        assert uow.collected_events() == []


async def test_events_of_a_unit_that_did_not_commit_are_discarded(
    new_uow: NewUow,
) -> None:
    uow = new_uow()
    async with uow:
        uow.record(PetRegistered(pet_id=1))
    assert uow.collected_events() == [], "events of rolled-back work must not be published"

    async def record_then_fail() -> None:
        async with uow:
            uow.record(PetRegistered(pet_id=2))
            raise Boom

    with pytest.raises(Boom):
        await record_then_fail()
    assert uow.collected_events() == []


# --- retry_idempotent_read -------------------------------------------------------------


def _operational_error() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, ConnectionResetError("connection reset"))


class FlakyRead:
    """Fails with ``error()`` the first ``failures`` calls, then answers ``"value"``."""

    def __init__(self, failures: int, error: type[BaseException] | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.error = error

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            if self.error is None:
                raise _operational_error()
            raise self.error("transient")
        return "value"


@pytest.mark.parametrize("failures", [1, 2])
async def test_retry_recovers_from_transient_errors_within_the_budget(failures: int) -> None:
    read = FlakyRead(failures)
    assert await retry_idempotent_read(read, retries=2) == "value"
    assert read.calls == failures + 1


@pytest.mark.parametrize(
    "error",
    [None, ConnectionError, ConnectionRefusedError, OSError],
    ids=["OperationalError", "ConnectionError", "ConnectionRefusedError", "OSError"],
)
async def test_retry_gives_up_after_exactly_the_bounded_attempts(
    error: type[BaseException] | None,
) -> None:
    read = FlakyRead(failures=100, error=error)
    expected = sa_exc.OperationalError if error is None else error
    with pytest.raises(expected):
        await retry_idempotent_read(read, retries=2)
    assert read.calls == 3  # the first try and 2 retries


async def test_retry_zero_means_a_single_attempt() -> None:
    read = FlakyRead(failures=1)
    with pytest.raises(sa_exc.OperationalError):
        await retry_idempotent_read(read, retries=0)
    assert read.calls == 1


async def test_an_invalidated_connection_is_transient() -> None:
    calls = 0

    async def read() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise sa_exc.DBAPIError("SELECT 1", {}, Exception("lost"), connection_invalidated=True)
        return 42

    assert await retry_idempotent_read(read, retries=1) == 42
    assert calls == 2


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad input"),
        KeyError("missing"),
        sa_exc.ProgrammingError("SELECT nope", {}, Exception("syntax error")),
        sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
    ],
    ids=["ValueError", "KeyError", "ProgrammingError", "IntegrityError"],
)
async def test_non_transient_errors_are_not_retried(error: Exception) -> None:
    calls = 0

    async def read() -> str:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(type(error)):
        await retry_idempotent_read(read, retries=3)
    assert calls == 1


async def test_retry_reads_from_the_real_database(engine: AsyncEngine) -> None:
    attempts = 0

    async def read() -> int:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise _operational_error()
        async with engine.connect() as conn:
            value = await conn.scalar(text("SELECT count(*) FROM uow_scratch"))
            return int(value)

    assert await retry_idempotent_read(read, retries=2) == 0
    assert attempts == 2
