"""The worker's wiring: the job queue (procrastinate) over the event delivery and the
housekeeping, run as `vetchart worker` or inside the API process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import timedelta

import procrastinate
import structlog

from vetchart.adapters.db.engine import libpq_conninfo
from vetchart.adapters.jobs import (
    WorkerConfig,
    build_job_app,
    job_counts,
    retry_failed,
    run_embedded_worker,
    run_worker,
)
from vetchart.config import Settings, WebhookSettings, WorkerSettings
from vetchart.services.jobs import EventDelivery, EventHandler, Housekeeping
from vetchart.services.ports.system import Clock, IdempotencyStore
from vetchart.services.ports.unit_of_work import UnitOfWorkFactory
from vetchart.services.webhooks import WebhookDispatcher

log = structlog.get_logger(__name__)


def worker_config(worker: WorkerSettings, webhooks: WebhookSettings | None = None) -> WorkerConfig:
    """The worker's settings of the config's field names, with the webhook deliveries' tries."""
    webhooks = webhooks or WebhookSettings()
    names = {field.name for field in fields(WorkerConfig)} & set(WorkerSettings.model_fields)
    return WorkerConfig(
        webhook_max_tries=webhooks.max_tries,
        webhook_retry_base_seconds=webhooks.retry_base_seconds,
        **worker.model_dump(include=names),
    )


@dataclass(frozen=True)
class Worker:
    """The job queue and its worker over the wired event delivery and housekeeping."""

    database_url: str
    delivery: EventDelivery
    housekeeping: Housekeeping
    config: WorkerConfig
    # The periodic reminder scan (services/messages.py ReminderScan.run).
    reminders: Callable[[], Awaitable[int]] | None = None
    webhooks: WebhookDispatcher | None = None

    def job_app(self) -> procrastinate.App:
        webhooks = self.webhooks
        return build_job_app(
            libpq_conninfo(self.database_url),
            delivery=self.delivery,
            housekeeping=self.housekeeping.run,
            config=self.config,
            reminders=self.reminders,
            webhook_attempt=None
            if webhooks is None
            else lambda delivery_id, try_number: webhooks.attempt(
                delivery_id, try_number=try_number
            ),
        )

    async def run(self) -> None:
        """`vetchart worker`: work until SIGINT/SIGTERM."""
        app = self.job_app()
        async with app.open_async():
            await run_worker(app, self.config, in_process=False)

    async def start_embedded(self) -> Callable[[], Awaitable[None]]:
        """A worker inside this (API) process; returns the coroutine that stops it."""
        app = self.job_app()
        task = asyncio.create_task(run_embedded_worker(app, self.config))
        log.info("worker.embedded_started")

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.info("worker.embedded_stopped")

        return stop

    async def job_counts(self) -> dict[tuple[str, str], int]:
        app = self.job_app()
        async with app.open_async():
            return await job_counts(app)

    async def retry_failed_job(self, job_id: int) -> None:
        app = self.job_app()
        async with app.open_async():
            await retry_failed(app, job_id)


def build_worker(
    settings: Settings,
    *,
    database_url: str,
    uow: UnitOfWorkFactory,
    clock: Clock,
    idempotency: IdempotencyStore,
    handlers: Sequence[EventHandler],
    sweeps: Mapping[str, Callable[[timedelta], Awaitable[int]]],
    reminders: Callable[[], Awaitable[int]] | None = None,
    webhooks: WebhookDispatcher | None = None,
) -> Worker:
    """The outbox's event delivery to ``handlers`` and the housekeeping, on the queue."""
    auth = settings.auth
    return Worker(
        database_url=database_url,
        delivery=EventDelivery(uow=uow, clock=clock, handlers=handlers),
        housekeeping=Housekeeping(
            uow=uow,
            clock=clock,
            idempotency=idempotency,
            # A throttle key outlives what it remembers: the known-address records (their
            # days), and a lock's level, which doubles the next lock (twice the longest).
            throttle_retention=max(
                timedelta(days=auth.lockout_known_address_days + 1),
                timedelta(seconds=2 * auth.lockout_max_seconds),
            ),
            sweeps=sweeps,
        ),
        config=worker_config(settings.worker, settings.webhooks),
        reminders=reminders,
        webhooks=webhooks,
    )
