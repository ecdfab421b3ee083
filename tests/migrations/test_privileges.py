"""The application's database role (vetchart_app): what the API and the worker can do.

Migrations run as the owner; the API and the worker log in as the role (a LOGIN role
since revision 0010, neither superuser nor owner). This checks the role's reach on a
schema at head: rows yes, history rewrites no, schema changes no, no way back to the
owner, and no table left without privileges.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import make_settings
from vetchart.adapters.db import migrate
from vetchart.adapters.db.engine import app_login_url, async_url, libpq_url
from vetchart.adapters.db.health import DatabaseReadiness
from vetchart.adapters.db.privileges import (
    APP_ROLE,
    APPEND_ONLY_TABLES,
    DATABASE_MOVED_TABLES,
    READ_ONLY_TABLES,
    ensure_app_login,
    login_privilege_problems,
)
from vetchart.adapters.db.safety import StartupSafety
from vetchart.bootstrap import build_container
from vetchart.config import AuditSettings, ConfigurationError, DatabaseSettings
from vetchart.domain.audit import AuditKey

INSUFFICIENT_PRIVILEGE = "42501"


@pytest.fixture
async def as_app(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(libpq_url(database_url), user=APP_ROLE)
    try:
        assert await conn.fetchval("SELECT session_user") == APP_ROLE
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
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_move_head",
        "UPDATE audit_chains SET seq = 0",
        "SELECT * FROM audit_chains FOR UPDATE",
        "DELETE FROM audit_chains",
        "INSERT INTO audit_chains (chain, seq, hash) VALUES (99, 0, '')",
        "SELECT audit_move_head()",
        "SET ROLE postgres",
        "SET SESSION AUTHORIZATION postgres",
        "CREATE ROLE sneaky",
        "ALTER ROLE vetchart_app SUPERUSER",
        "CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS 'SELECT 1'",
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
        elif table in READ_ONLY_TABLES or table in DATABASE_MOVED_TABLES:
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


async def test_the_app_logs_in_as_a_plain_role_with_no_way_back_to_the_owner(
    as_app: asyncpg.Connection,
) -> None:
    """The attack: the old app logged in as the owner and only SET ROLE to vetchart_app,
    so any SQL it ran could RESET ROLE and be the owner (or a superuser) again."""
    await as_app.execute("RESET ROLE")
    assert await as_app.fetchval("SELECT current_user") == APP_ROLE
    role = await as_app.fetchrow(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, "
        "rolcanlogin FROM pg_roles WHERE rolname = current_user"
    )
    assert role is not None
    assert dict(role) == {
        "rolsuper": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
        "rolreplication": False,
        "rolbypassrls": False,
        "rolcanlogin": True,
    }
    owned = await as_app.fetchval(
        "SELECT (SELECT count(*) FROM pg_class WHERE relowner = current_user::regrole)"
        " + (SELECT count(*) FROM pg_proc WHERE proowner = current_user::regrole)"
        " + (SELECT count(*) FROM pg_namespace WHERE nspowner = current_user::regrole)"
    )
    assert owned == 0
    # Membership in no role: nothing to SET ROLE to.
    assert (
        await as_app.fetchval(
            "SELECT count(*) FROM pg_auth_members WHERE member = current_user::regrole"
        )
        == 0
    )


async def test_the_app_moves_the_audit_head_only_by_extending_it(
    as_app: asyncpg.Connection,
) -> None:
    """The head moves only through the database's functions: a row that does not extend
    the locked head is refused, a row that does moves it."""
    async with as_app.transaction():
        head = await as_app.fetchrow("SELECT seq, hash FROM audit_lock_head(3::smallint)")
        assert head is not None
        insert = (
            "INSERT INTO audit_events (id, occurred_at, action, resource_type, outcome,"
            " chain, seq, prev_hash, hash) VALUES (gen_random_uuid(), now(), 'x', 'x',"
            " 'success', 3, $1, $2, $3)"
        )
        await as_app.execute(insert, head["seq"] + 1, head["hash"], b"\x01" * 32)
        moved = await as_app.fetchrow("SELECT seq, hash FROM audit_chains WHERE chain = 3")
        assert moved is not None
        assert (moved["seq"], moved["hash"]) == (head["seq"] + 1, b"\x01" * 32)
        # A row that skips an entry, or that does not link to the head, is refused.
        for seq, prev in ((head["seq"] + 3, b"\x01" * 32), (head["seq"] + 2, b"\x02" * 32)):
            with pytest.raises(asyncpg.RaiseError, match="does not extend the head"):
                async with as_app.transaction():
                    await as_app.execute(insert, seq, prev, b"\x03" * 32)


async def test_a_privileged_login_is_named_and_refused_in_production(database_url: str) -> None:
    """With VETCHART_DB_APP_ROLE emptied the app logs in as DATABASE_URL's user: if that
    is the superuser/owner, production refuses to start and other environments warn."""
    privileged = create_async_engine(async_url(database_url))
    plain = create_async_engine(app_login_url(database_url, DatabaseSettings()))
    key = AuditKey(b"k" * 32)
    try:
        problems = await login_privilege_problems(privileged)
        assert "is a superuser" in problems
        assert "owns the schema's tables" in problems
        assert await login_privilege_problems(plain) == []
        refused = await StartupSafety(privileged, audit_key=key, production=True).check()
        assert len(refused) == 1
        assert "is a superuser" in refused[0]
        assert await StartupSafety(plain, audit_key=key, production=True).check() == []
        # Elsewhere only a warning.
        assert await StartupSafety(privileged, audit_key=key, production=False).check() == []
    finally:
        await privileged.dispose()
        await plain.dispose()


async def test_a_process_with_another_audit_key_is_refused(database_url: str) -> None:
    """The first process records its key's fingerprint; one with another key would write
    audit rows that never verify, so it does not start (any environment), and one that
    started while the database was away never becomes ready."""
    engine = create_async_engine(app_login_url(database_url, DatabaseSettings()))
    try:
        first = StartupSafety(engine, audit_key=AuditKey(b"first-key-" * 4), production=False)
        assert await first.check() == []
        same = StartupSafety(engine, audit_key=AuditKey(b"first-key-" * 4), production=False)
        assert await same.check() == []
        other = StartupSafety(engine, audit_key=AuditKey(b"other-key-" * 4), production=False)
        problems = await other.check()
        assert len(problems) == 1
        assert "VETCHART_AUDIT_KEY" in problems[0]
        late = StartupSafety(engine, audit_key=AuditKey(b"other-key-" * 4), production=False)
        readiness = DatabaseReadiness(engine, read_retries=0, safety=late)
        checks = {result.name: result for result in await readiness.check()}
        assert checks["database"].ok
        assert not checks["configuration"].ok
        assert "VETCHART_AUDIT_KEY" not in checks["configuration"].detail  # log only
    finally:
        await engine.dispose()
    with pytest.raises(ConfigurationError, match="refusing to start"):
        await build_container(
            make_settings(database_url, audit=AuditSettings(key=SecretStr("other-key-" * 4))),
            database_url=database_url,
        )


# Both tests below alter the cluster-wide application role: under xdist no other test runs
# meanwhile (tests/xdist_locks.py), or another worker's logins could fail.
@pytest.mark.cluster_role
def test_the_app_roles_password_is_set_by_the_server_quoting_it(database_url: str) -> None:
    """`vetchart db upgrade` with VETCHART_DB_APP_PASSWORD: a password with quotes in it
    is stored as given (server-side quoting), not executed."""
    tricky = "pa'ss\"; DROP ROLE vetchart_app; --"

    async def stored() -> str | None:
        conn = await asyncpg.connect(libpq_url(database_url))
        try:
            value = await conn.fetchval(
                "SELECT rolpassword FROM pg_authid WHERE rolname = $1", APP_ROLE
            )
            return None if value is None else str(value)
        finally:
            await conn.close()

    async def forget() -> None:
        conn = await asyncpg.connect(libpq_url(database_url))
        try:
            await conn.execute(f"ALTER ROLE {APP_ROLE} PASSWORD NULL")
        finally:
            await conn.close()

    migrate.set_role_password(database_url, APP_ROLE, tricky)
    try:
        verifier = asyncio.run(stored())
        assert verifier is not None
        assert verifier.startswith("SCRAM-SHA-256$")
    finally:
        asyncio.run(forget())


@pytest.mark.cluster_role
async def test_a_non_superuser_migrating_role_can_make_the_app_role_a_login(
    database_url: str,
) -> None:
    """On a managed server the migrating role has CREATEROLE but is no superuser, and
    PostgreSQL refuses it any [NO]SUPERUSER clause: the upgrade of an existing NOLOGIN
    role must only write the clauses it needs."""
    admin = await asyncpg.connect(libpq_url(database_url))
    migrator = "vetchart_test_migrator"
    try:
        await admin.execute(f"DROP ROLE IF EXISTS {migrator}")
        await admin.execute(f"CREATE ROLE {migrator} LOGIN CREATEROLE")
        if int(await admin.fetchval("SHOW server_version_num")) >= 160000:
            await admin.execute(f"GRANT {APP_ROLE} TO {migrator} WITH ADMIN OPTION")
        await admin.execute(f"ALTER ROLE {APP_ROLE} NOLOGIN")
        conn = await asyncpg.connect(libpq_url(database_url), user=migrator)
        try:
            executed: list[str] = []

            async def run(statements: list[str]) -> None:
                for statement in statements:
                    await conn.execute(statement)

            ensure_app_login(executed.append)
            await run(executed)
        finally:
            await conn.close()
        assert await admin.fetchval("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", APP_ROLE)
    finally:
        await admin.execute(f"ALTER ROLE {APP_ROLE} LOGIN")
        await admin.execute(f"DROP ROLE IF EXISTS {migrator}")
        await admin.close()
