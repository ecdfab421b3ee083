"""The composition root: wires adapters into services once, for the app, the worker and tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from vetchart.adapters.db.engine import create_engine, session_factory
from vetchart.adapters.db.errors import translate_database_error
from vetchart.adapters.db.health import DatabaseReadiness
from vetchart.adapters.db.resilience import wait_for_database
from vetchart.adapters.db.uow import SqlAlchemyUnitOfWork
from vetchart.adapters.observability import tracing
from vetchart.adapters.observability.tracing import OpenTelemetryMiddleware as TracingMiddleware
from vetchart.config import Settings
from vetchart.domain.errors import DomainError
from vetchart.services.ports import UnitOfWork

__all__ = [
    "Container",
    "PoolStats",
    "TracingMiddleware",
    "build_container",
    "build_tracer_provider",
    "demo_seeders",
]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PoolStats:
    size: int
    checked_out: int
    overflow: int
    checked_in: int


def _pool_stats(engine: AsyncEngine) -> PoolStats:
    pool = engine.sync_engine.pool
    return PoolStats(
        size=int(getattr(pool, "size", lambda: 0)()),
        checked_out=int(getattr(pool, "checkedout", lambda: 0)()),
        overflow=int(getattr(pool, "overflow", lambda: 0)()),
        checked_in=int(getattr(pool, "checkedin", lambda: 0)()),
    )


@dataclass
class Container:
    """Everything the outer layers need, built from settings."""

    settings: Settings
    engine: AsyncEngine
    read_engine: AsyncEngine
    readiness: DatabaseReadiness
    tracer_provider: TracerProvider | None
    translate_error: Callable[[BaseException], DomainError | None] = translate_database_error
    _extra_engines: list[AsyncEngine] = field(default_factory=list)

    def uow(self) -> UnitOfWork:
        return SqlAlchemyUnitOfWork(session_factory(self.engine))

    def pool_stats(self) -> PoolStats:
        return _pool_stats(self.engine)

    async def aclose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()


def build_tracer_provider(settings: Settings) -> TracerProvider | None:
    return tracing.build_tracer_provider(
        service_name=settings.observability.otel_service_name,
        endpoint=settings.observability.otel_endpoint,
    )


async def build_container(
    settings: Settings,
    *,
    database_url: str,
    tracer_provider: TracerProvider | None = None,
    wait_for_db: bool = True,
) -> Container:
    """Create engines and adapters. ``database_url`` is resolved by the entrypoint
    (``DATABASE_URL``, or the embedded server it started)."""
    engine = create_engine(database_url, settings.database, application_name="vetchart-api")
    read_engine = engine
    if settings.database.read_url:
        read_engine = create_engine(
            settings.database.read_url, settings.database, application_name="vetchart-api-read"
        )
    if tracer_provider is not None:
        tracing.instrument_engine(engine, tracer_provider)
        tracing.instrument_httpx(tracer_provider)
    if wait_for_db:
        await wait_for_database(engine, timeout_seconds=settings.database.startup_timeout)
    readiness = DatabaseReadiness(engine, read_retries=settings.database.read_retries)
    log.info("container.ready", read_replica=read_engine is not engine)
    return Container(
        settings=settings,
        engine=engine,
        read_engine=read_engine,
        readiness=readiness,
        tracer_provider=tracer_provider,
    )


def demo_seeders(container: Container) -> list[Callable[[], Awaitable[str]]]:
    """The parts of the demo data set, in dependency order; each returns a summary line."""
    del container  # each feature adds its seeder here
    return []
