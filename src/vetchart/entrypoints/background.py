"""The worker and audit commands' async bodies (run by the CLI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from vetchart import bootstrap
from vetchart.adapters.db.audit_verify import VerifyReport
from vetchart.config import Settings


@asynccontextmanager
async def _container(settings: Settings, database_url: str) -> AsyncIterator[bootstrap.Container]:
    container = await bootstrap.build_container(settings, database_url=database_url)
    try:
        yield container
    finally:
        await container.aclose()


async def work(settings: Settings, database_url: str) -> None:
    async with _container(settings, database_url) as container:
        await container.run_worker()


async def job_counts(settings: Settings, database_url: str) -> dict[tuple[str, str], int]:
    async with _container(settings, database_url) as container:
        return await container.job_counts()


async def retry_job(settings: Settings, database_url: str, job_id: int) -> None:
    async with _container(settings, database_url) as container:
        await container.retry_failed_job(job_id)


async def verify(settings: Settings, database_url: str) -> VerifyReport:
    async with _container(settings, database_url) as container:
        return await container.verify_audit()
