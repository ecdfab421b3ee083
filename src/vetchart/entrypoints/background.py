"""The worker and audit commands' async bodies (run by the CLI)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from vetchart import bootstrap
from vetchart.adapters.db.audit_verify import VerifyReport
from vetchart.adapters.storage.checkpoints import read_checkpoint, write_checkpoint
from vetchart.config import Settings
from vetchart.domain.audit import Checkpoint


@asynccontextmanager
async def _container(settings: Settings, database_url: str) -> AsyncIterator[bootstrap.Container]:
    container = await bootstrap.build_container(settings, database_url=database_url)
    try:
        yield container
    finally:
        await container.aclose()


async def work(settings: Settings, database_url: str) -> None:
    async with _container(settings, database_url) as container:
        container.start()
        await container.worker.run()


async def job_counts(settings: Settings, database_url: str) -> dict[tuple[str, str], int]:
    async with _container(settings, database_url) as container:
        return await container.worker.job_counts()


async def retry_job(settings: Settings, database_url: str, job_id: int) -> None:
    async with _container(settings, database_url) as container:
        await container.worker.retry_failed_job(job_id)


async def verify(
    settings: Settings, database_url: str, against: Sequence[str] = ()
) -> VerifyReport:
    """``against``: checkpoints' locations (file paths or ``s3://BUCKET/KEY``). Raises
    ``CheckpointError`` when one is unreadable or its signature does not verify, and
    ``CheckpointLocationError`` when there is none there."""
    async with _container(settings, database_url) as container:
        checkpoints = [
            Checkpoint.from_json(
                await read_checkpoint(location, settings.storage), container.audit_key
            )
            for location in against
        ]
        return await container.verify_audit(checkpoints)


async def checkpoint(settings: Settings, database_url: str, out: str | None) -> str:
    """The signed checkpoint of the chain heads now, as JSON; written to ``out`` (a new
    file or ``s3://BUCKET/KEY``) when given."""
    async with _container(settings, database_url) as container:
        text = (await container.audit_checkpoint()).to_json(container.audit_key)
    if out is not None:
        await write_checkpoint(out, text, settings.storage)
    return text
