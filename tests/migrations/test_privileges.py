"""The application's database role (vetchart_app): what the API and the worker can do.

Migrations run as the owner; the app's engine switches every connection to the role
(``role`` startup setting). This checks the role's reach on a schema at head: rows yes,
history rewrites no, schema changes no, and no table left without privileges.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from vetchart.adapters.db.engine import libpq_url
from vetchart.adapters.db.privileges import APP_ROLE, APPEND_ONLY_TABLES, READ_ONLY_TABLES

INSUFFICIENT_PRIVILEGE = "42501"


@pytest.fixture
async def as_app(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(libpq_url(database_url), server_settings={"role": APP_ROLE})
    try:
        assert await conn.fetchval("SELECT current_user") == APP_ROLE
        yield conn
    finally:
        await conn.close()


async def _refused(conn: asyncpg.Connection, statement: str) -> None:
    with pytest.raises(asyncpg.PostgresError) as refused:
        async with conn.transaction():
            await conn.execute(statement)
    assert refused.value.sqlstate == INSUFFICIENT_PRIVILEGE, statement


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE sneaky (id int)",
        "ALTER TABLE pets ADD COLUMN sneaky int",
        "DROP TABLE pets",
        "CREATE INDEX sneaky ON pets (name)",
        "TRUNCATE pets",
        "UPDATE audit_events SET outcome = 'success'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE medical_record_events SET reason = 'x'",
        "DELETE FROM medical_record_events",
        "UPDATE alembic_version SET version_num = 'x'",
        "DELETE FROM alembic_version",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    ],
)
async def test_the_app_role_cannot_change_the_schema_or_history(
    as_app: asyncpg.Connection, statement: str
) -> None:
    await _refused(as_app, statement)


async def test_the_app_role_reads_and_writes_every_other_table(
    as_app: asyncpg.Connection,
) -> None:
    tables = [
        row["tablename"]
        for row in await as_app.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        )
    ]
    assert "procrastinate_jobs" in tables
    privileges = ("SELECT", "INSERT", "UPDATE", "DELETE")
    for table in tables:
        granted = {
            privilege
            for privilege in privileges
            if await as_app.fetchval(
                "SELECT has_table_privilege(current_user, $1, $2)", f"public.{table}", privilege
            )
        }
        if table in APPEND_ONLY_TABLES:
            assert granted == {"SELECT", "INSERT"}, table
        elif table in READ_ONLY_TABLES:
            assert granted == {"SELECT"}, table
        else:
            assert granted == set(privileges), (table, granted)
        truncate = await as_app.fetchval(
            "SELECT has_table_privilege(current_user, $1, 'TRUNCATE')", f"public.{table}"
        )
        assert truncate is False, table
    assert not await as_app.fetchval(
        "SELECT has_schema_privilege(current_user, 'public', 'CREATE')"
    )
