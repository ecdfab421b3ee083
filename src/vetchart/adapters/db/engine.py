"""Engines, sessions and URL handling for PostgreSQL (SQLAlchemy 2 async + asyncpg)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from vetchart.config import DatabaseSettings


def async_url(url: str) -> str:
    """Normalise any PostgreSQL URL to the asyncpg driver SQLAlchemy uses."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    if parsed.drivername != "postgresql+asyncpg":
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: use postgresql://"
        )
    return parsed.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL as plain ``postgresql://`` (for asyncpg.connect and psql)."""
    return (
        make_url(async_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def app_login_url(url: str, settings: DatabaseSettings) -> str:
    """``url`` logging in as the application role (``settings.app_role``: least
    privilege, adapters/db/privileges.py) instead of its own user — same host, port,
    database and options. Password: ``app_password`` when set, else the URL's own when
    it already names the role, else none (trust/peer authentication, as on the embedded
    server's socket). An empty ``app_role`` leaves the URL alone."""
    if not settings.app_role:
        return url
    parsed = make_url(async_url(url))
    if settings.app_password is not None:
        password: str | None = settings.app_password.get_secret_value()
    elif parsed.username == settings.app_role:
        password = parsed.password
    else:
        password = None
    login = URL.create(
        parsed.drivername,
        username=settings.app_role,
        password=password,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return login.render_as_string(hide_password=False)


def create_engine(url: str, settings: DatabaseSettings, *, application_name: str) -> AsyncEngine:
    """The application's engine (``url`` already logs in as the application role: see
    ``app_login_url``)."""
    server_settings = {"application_name": application_name}
    if settings.statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    engine = create_async_engine(
        async_url(url),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=settings.pool_recycle,
        echo=settings.echo,
        connect_args={"server_settings": server_settings, "timeout": 10},
    )
    event.listen(engine.sync_engine, "checkout", _drop_closed_connection)
    return engine


def _drop_closed_connection(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection the server has closed (restart, terminated backend) is
    replaced at checkout. asyncpg notices the server's goodbye as soon as it arrives, so
    this local check does what a pre-ping round trip did before every transaction,
    without the round trip (bench/REPORT.md)."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise sa_exc.DisconnectionError("the server closed this pooled connection")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def libpq_conninfo(url: str) -> str:
    """A libpq connection URI for psycopg (the job queue): the driver name dropped and
    asyncpg's ``ssl=`` spelled as libpq's ``sslmode=``."""
    parsed = make_url(async_url(url)).set(drivername="postgresql")
    query = dict(parsed.query)
    if "ssl" in query and "sslmode" not in query:
        query["sslmode"] = query.pop("ssl")
    return parsed.set(query=query).render_as_string(hide_password=False)
