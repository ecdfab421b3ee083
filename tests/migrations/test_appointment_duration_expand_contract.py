"""The expand/contract pair r0017/r0018 (docs/operations.md, "Zero-downtime migrations"):
the code before the expand keeps serving on the expanded schema (readiness, and its writes
keep the new column right through the trigger), the code with both revisions serves on the
expanded and the contracted schema, and both revisions go down again cleanly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from vetchart.adapters.db import migrate
from vetchart.adapters.db.engine import async_url, libpq_url
from vetchart.adapters.db.health import DatabaseReadiness

EXPAND, CONTRACT = "0017", "0018"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _before(revision: str) -> str:
    down = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(revision)
    assert down is not None
    assert isinstance(down.down_revision, str)
    return down.down_revision


BEFORE = _before(EXPAND)  # the revision of the release before the expand


async def ready(url: str, serving: frozenset[str] | None = None) -> tuple[bool, str]:
    """The migrations check of readiness, for the code serving on ``serving`` (None:
    this code)."""
    engine = create_async_engine(async_url(url))
    try:
        checks = await DatabaseReadiness(engine, read_retries=0, serving=serving).check()
    finally:
        await engine.dispose()
    migrations = next(check for check in checks if check.name == "migrations")
    return migrations.ok, migrations.detail


OLD_CODE = frozenset({BEFORE})


@pytest.fixture
async def conn(empty_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await asyncio.to_thread(migrate.upgrade, empty_database_url, BEFORE)
    connection = await asyncpg.connect(libpq_url(empty_database_url))
    try:
        yield connection
    finally:
        await connection.close()


async def seed(conn: asyncpg.Connection) -> dict[str, uuid.UUID]:
    ids = {name: uuid.uuid4() for name in ("practice", "vet", "owner")}
    await conn.execute(
        "INSERT INTO practices (id, name, timezone, created_at, updated_at)"
        " VALUES ($1, 'Riverside', 'Europe/London', $2, $2)",
        ids["practice"],
        T0,
    )
    await conn.execute(
        "INSERT INTO users (id, email, full_name, role, practice_id, password_hash,"
        " created_at, updated_at) VALUES ($1, 'vet@example.com', 'Vet', 'VET', $2, 'x', $3, $3)",
        ids["vet"],
        ids["practice"],
        T0,
    )
    await conn.execute(
        "INSERT INTO pet_owners (id, full_name, created_at, updated_at)"
        " VALUES ($1, 'Owner', $2, $2)",
        ids["owner"],
        T0,
    )
    return ids


async def book(
    conn: asyncpg.Connection, ids: dict[str, uuid.UUID], start: datetime, minutes: int
) -> uuid.UUID:
    """An appointment as the code before the expand writes one (no ``duration``)."""
    appointment = uuid.uuid4()
    await conn.execute(
        "INSERT INTO appointments (id, practice_id, pet_owner_id, assigned_vet_id, start_at,"
        " end_at, duration_minutes, appointment_type, title, status, created_by, created_at,"
        " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'checkup', 'Check-up', 'scheduled',"
        " $4, $8, $8)",
        appointment,
        ids["practice"],
        ids["owner"],
        ids["vet"],
        start,
        start + timedelta(minutes=minutes),
        minutes,
        T0,
    )
    return appointment


async def duration(conn: asyncpg.Connection, appointment: uuid.UUID) -> timedelta | None:
    value = await conn.fetchval("SELECT duration FROM appointments WHERE id = $1", appointment)
    assert value is None or isinstance(value, timedelta)
    return value


async def has_duration_column(conn: asyncpg.Connection) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = 'appointments' AND column_name = 'duration'"
        )
    )


async def test_expand_serves_old_and_new_code_contract_serves_new_and_both_go_down(
    empty_database_url: str, conn: asyncpg.Connection
) -> None:
    url = empty_database_url
    ids = await seed(conn)
    existing = await book(conn, ids, T0, 30)
    assert await ready(url, OLD_CODE) == (True, "at head")
    assert (await ready(url))[0] is False, "this code needs at least the expand"

    # Expand: old code still serves (and its writes keep the new column right).
    await asyncio.to_thread(migrate.upgrade, url, EXPAND)
    assert await duration(conn, existing) == timedelta(minutes=30), "backfilled"
    assert await ready(url, OLD_CODE) == (True, "ahead by expand migrations")
    assert (await ready(url))[0] is True, "new code serves before the contract"
    later = await book(conn, ids, T0 + timedelta(hours=1), 45)
    assert await duration(conn, later) == timedelta(minutes=45)
    await conn.execute(
        "UPDATE appointments SET end_at = start_at + interval '20 minutes',"
        " duration_minutes = 20 WHERE id = $1",
        existing,
    )
    assert await duration(conn, existing) == timedelta(minutes=20)
    await conn.execute("UPDATE appointments SET title = 'Renamed' WHERE id = $1", later)
    assert await duration(conn, later) == timedelta(minutes=45)
    # Not an expand the database declares: code of an unrelated revision is not served.
    assert (await ready(url, frozenset({"0001"})))[0] is False

    # Contract: the column goes; new code serves, the code before the expand no more.
    await asyncio.to_thread(migrate.upgrade, url, CONTRACT)
    assert not await has_duration_column(conn)
    assert await ready(url) == (True, "at head")
    assert (await ready(url, OLD_CODE))[0] is False
    await book(conn, ids, T0 + timedelta(hours=2), 15)  # the writes of this code

    # Down again: the contract's downgrade restores the synchronised, backfilled column.
    await asyncio.to_thread(migrate.downgrade, url, EXPAND)
    durations = await conn.fetch("SELECT duration, end_at - start_at AS expected FROM appointments")
    assert len(durations) == 3
    assert all(row["duration"] == row["expected"] for row in durations)
    await asyncio.to_thread(migrate.downgrade, url, BEFORE)
    assert not await has_duration_column(conn)
    assert await conn.fetchval("SELECT to_regclass('schema_compatibility')") is None
    assert await ready(url, OLD_CODE) == (True, "at head")
