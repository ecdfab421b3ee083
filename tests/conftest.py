"""Test-session fixtures: a real PostgreSQL, a migrated template, a fresh database per test.

``TEST_DATABASE_URL`` (any PostgreSQL where we may create databases) is used when set;
otherwise the session starts an embedded PostgreSQL in a temporary folder and deletes it
at the end. The schema is built once by the Alembic migrations into a template database;
every test that asks for ``database_url`` gets its own copy (CREATE DATABASE ... TEMPLATE),
so tests may commit freely and still start clean.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.engine import make_url

from vetchart.adapters.db import migrate
from vetchart.adapters.db.embedded import EmbeddedPostgres
from vetchart.adapters.db.engine import async_url, libpq_url
from vetchart.adapters.observability.logging import configure_logging
from vetchart.api.app import create_app
from vetchart.config import (
    AuthSettings,
    CorsSettings,
    DatabaseSettings,
    Environment,
    ObservabilitySettings,
    Settings,
    StorageSettings,
)

TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-000000"


def _with_database(url: str, name: str) -> str:
    return make_url(async_url(url)).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session", autouse=True)
def _plain_logging() -> None:
    """Logging as `vetchart serve` sets it up (plain tracebacks, WARNING): structlog's
    default renders every local of every frame of a logged error and takes seconds per
    error. Tests about logging configure their own."""
    configure_logging(level="WARNING", json=False)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A SQLAlchemy URL of a maintenance database on the test server."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield async_url(configured)
        return
    # Not under pytest's tmp_path: as root the server runs as its own system user, and
    # pytest resets /tmp/pytest-of-<user> to mode 0700 whenever another session starts.
    folder = Path(tempfile.mkdtemp(prefix="vetchart-test-pg-"))
    try:
        with EmbeddedPostgres(folder / "pgdata") as server:
            yield server.url("postgres")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_database(pg_server_url: str) -> Iterator[str]:
    """Name of a database migrated to head, used as the template of every test database."""
    name = f"vetchart_tpl_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(pg_server_url, f'CREATE DATABASE "{name}"'))
    migrate.upgrade(_with_database(pg_server_url, name), "head")
    yield name
    asyncio.run(_admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def database_url(pg_server_url: str, template_database: str) -> AsyncIterator[str]:
    """A fresh database at migration head for one test."""
    name = f"vetchart_t_{uuid.uuid4().hex[:12]}"
    await _admin(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield _with_database(pg_server_url, name)
    await _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty_database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh database with no schema at all (for migration tests)."""
    name = f"vetchart_e_{uuid.uuid4().hex[:12]}"
    await _admin(pg_server_url, f'CREATE DATABASE "{name}"')
    yield _with_database(pg_server_url, name)
    await _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Local object storage of the tests' apps: a fresh folder per app under one temporary
# root, removed when the test session ends (never the repository's var/).
_FILES_ROOT = Path(tempfile.mkdtemp(prefix="vetchart-test-files-"))
atexit.register(shutil.rmtree, _FILES_ROOT, True)


def make_settings(database_url: str | None, **overrides: object) -> Settings:
    """Test settings built explicitly, so the developer's environment cannot leak in."""
    values: dict[str, object] = {
        "storage": StorageSettings(files_dir=_FILES_ROOT / uuid.uuid4().hex),
        "env": Environment.TEST,
        "database": DatabaseSettings(url=database_url, pool_size=5, max_overflow=5),
        # Cheap Argon2 parameters keep the suite fast; production uses the defaults.
        "auth": AuthSettings(
            jwt_secret=TEST_JWT_SECRET,
            argon2_time_cost=1,
            argon2_memory_kib=8192,
            argon2_parallelism=1,
        ),
        "cors": CorsSettings(origins=["https://app.vetchart.test"], allow_credentials=True),
        "observability": ObservabilitySettings(log_level="WARNING", log_json=False),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings, database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database_url=database_url)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, client=("203.0.113.10", 50000))
    async with AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
