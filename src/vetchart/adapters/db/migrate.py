"""Alembic, driven from code: the only way the schema is made."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from vetchart.adapters.db.engine import async_url, libpq_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str | None = None, *, audit_key: str | None = None) -> Config:
    """``audit_key``: the key revisions that re-seal the audit chain use (r0010); None
    reads ``VETCHART_AUDIT_KEY`` (or its development default) from the environment."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if database_url is not None:
        # Kept out of the ini options: they interpolate '%' and URLs may contain it.
        config.attributes["database_url"] = async_url(database_url)
    if audit_key is not None:
        config.attributes["audit_key"] = audit_key
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def serving_revisions() -> frozenset[str]:
    """The database revisions this code serves on: its head, and each revision below it
    from which only *contract* revisions (``compatibility = "contract"`` in the module:
    they remove what this code no longer uses) lead to the head. Databases *ahead* of
    the head by expand revisions are recognised from the database (``schema_compatibility``,
    adapters/db/health.py), since this code does not know those revisions."""
    scripts = ScriptDirectory.from_config(alembic_config())
    heads = scripts.get_heads()
    if len(heads) != 1:
        return frozenset(heads)
    script = scripts.get_revision(heads[0])
    serving = {heads[0]}
    while script is not None and getattr(script.module, "compatibility", None) == "contract":
        down = script.down_revision
        if not isinstance(down, str):
            break
        serving.add(down)
        script = scripts.get_revision(down)
    return frozenset(serving)


def upgrade(database_url: str, revision: str = "head", *, audit_key: str | None = None) -> None:
    command.upgrade(alembic_config(database_url, audit_key=audit_key), revision)


def downgrade(database_url: str, revision: str, *, audit_key: str | None = None) -> None:
    command.downgrade(alembic_config(database_url, audit_key=audit_key), revision)


def current(database_url: str, *, verbose: bool = False) -> None:
    command.current(alembic_config(database_url), verbose=verbose)


def check(database_url: str) -> None:
    """Raise if the tables in code and the migrations disagree."""
    command.check(alembic_config(database_url))


def set_role_password(database_url: str, role: str, password: str) -> None:
    """Give the application's login role its password (``VETCHART_DB_APP_PASSWORD``),
    quoted by the server itself (``format('%I', '%L')``): never spliced in here."""

    async def run() -> None:
        conn = await asyncpg.connect(libpq_url(database_url))
        try:
            statement = await conn.fetchval(
                "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", role, password
            )
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())
