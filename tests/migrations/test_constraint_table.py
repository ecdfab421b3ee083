"""The constraint table (adapters/db/constraints.py) against the migrated schema: every
constraint it names exists, so renaming one in a migration fails here, not in production
as a 500; and a real violation is recognised by the name the driver reports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from vetchart.adapters.db.constraints import CONSTRAINT_ERRORS, constraint_name, violation
from vetchart.adapters.db.engine import async_url, libpq_url
from vetchart.domain.errors import Conflict

# Constraints proper (unique, exclusion, check...) and unique indexes (the partial ones).
_NAMED = """
    SELECT c.conname FROM pg_constraint c
    JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'
    UNION
    SELECT i.relname FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_namespace n ON n.oid = i.relnamespace
    WHERE n.nspname = 'public' AND x.indisunique
"""

_INSERT_PRACTICE = text(
    "INSERT INTO practices (id, name, timezone, license_number, created_at, updated_at) "
    "VALUES (:id, 'Practice', 'Europe/London', 'LIC-1', :now, :now)"
)


async def test_every_constraint_in_the_table_exists_in_the_migrated_schema(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        names = {row[0] for row in await conn.fetch(_NAMED)}
    finally:
        await conn.close()
    assert CONSTRAINT_ERRORS, "the table is empty"
    missing = sorted(set(CONSTRAINT_ERRORS) - names)
    assert missing == [], f"constraints named in constraints.py but not in the schema: {missing}"


async def test_a_violation_is_recognised_by_the_constraint_name_the_driver_reports(
    database_url: str,
) -> None:
    engine = create_async_engine(async_url(database_url))
    now = datetime.now(UTC)
    try:
        async with engine.connect() as conn:
            await conn.execute(_INSERT_PRACTICE, {"id": uuid.uuid4(), "now": now})
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(_INSERT_PRACTICE, {"id": uuid.uuid4(), "now": now})
            await conn.rollback()
    finally:
        await engine.dispose()
    assert constraint_name(caught.value) == "uq_practices_license_number"
    error = violation(caught.value)
    assert isinstance(error, Conflict)
    assert error.code == "license-number-taken"
    assert error.detail == "Another practice has this license number."


def test_an_error_without_a_constraint_name_is_not_translated() -> None:
    plain = RuntimeError("duplicate key value violates unique constraint uq_users_email")
    assert constraint_name(plain) is None
    assert violation(plain) is None
