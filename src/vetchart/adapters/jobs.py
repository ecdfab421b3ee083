"""The job queue and worker, on procrastinate (PostgreSQL-backed).

Why procrastinate: jobs live in our PostgreSQL (no broker to run), so the unit of work can
insert them in the transaction of the change (adapters/db/outbox.py); workers on any
number of machines fetch with ``FOR UPDATE SKIP LOCKED`` (one job, one worker) and wake
on LISTEN/NOTIFY; retries with exponential back-off end in a visible ``failed`` state;
workers send heartbeats, so the jobs of a worker that died are found and run again;
periodic tasks are deferred once per tick across all workers.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

import procrastinate
import structlog
from procrastinate.psycopg_connector import PsycopgConnector
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from vetchart.domain.webhooks import DeliveryStatus
from vetchart.services.jobs import (
    DELIVER_EVENT,
    DELIVER_WEBHOOK,
    EVENTS_QUEUE,
    HOUSEKEEPING,
    JOBS_QUEUE,
    REMINDERS,
    RETRY_STALLED,
    EventDelivery,
)

log = structlog.get_logger("vetchart.worker")

_EMBEDDED_RETRY_MAX_SECONDS = 30.0


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int
    max_attempts: int
    retry_base_seconds: int
    heartbeat_seconds: float
    stalled_after_seconds: float
    stalled_check_seconds: int
    # A webhook delivery's tries per sending, and its back-off base (base ** n seconds).
    webhook_max_tries: int = 8
    webhook_retry_base_seconds: int = 5


class WebhookTryFailed(Exception):
    """A webhook try failed and the delivery has tries left: the queue retries the job."""


# One try of a delivery (its id, the try's number in this sending, 1-based): the
# delivery's status after it (None: nothing was sent).
WebhookAttempt = Callable[[UUID, int], Awaitable[DeliveryStatus | None]]


def build_job_app(
    conninfo: str,
    *,
    delivery: EventDelivery,
    housekeeping: Callable[[], Awaitable[dict[str, int]]],
    config: WorkerConfig,
    reminders: Callable[[], Awaitable[int]] | None = None,
    webhook_attempt: WebhookAttempt | None = None,
) -> procrastinate.App:
    """A procrastinate app whose tasks call the given services. ``conninfo`` is a libpq
    URI (logging in as the application role, like the API's connections)."""
    connector = PsycopgConnector(conninfo=conninfo, min_size=1, max_size=config.concurrency + 2)
    # Succeeded jobs leave the table (it stays small); failed ones stay, visible.
    app = procrastinate.App(connector=connector, worker_defaults={"delete_jobs": "successful"})
    # procrastinate counts retries after the first try; ours counts tries in all.
    retry: procrastinate.RetryStrategy | bool = (
        procrastinate.RetryStrategy(
            max_attempts=config.max_attempts - 1, exponential_wait=config.retry_base_seconds
        )
        if config.max_attempts > 1
        else False
    )

    @app.task(name=DELIVER_EVENT, queue=EVENTS_QUEUE, retry=retry)
    async def deliver_event(event_id: str) -> None:
        outcome = await delivery.deliver(UUID(event_id))
        log.info(
            "event.delivered",
            event_id=event_id,
            found=outcome.found,
            handled=list(outcome.handled),
            skipped=list(outcome.skipped),
        )

    if webhook_attempt is not None:
        attempt = webhook_attempt
        # One try in all: no retry (procrastinate reads max_attempts=0 as "for ever").
        webhook_retry: procrastinate.RetryStrategy | bool = (
            procrastinate.RetryStrategy(
                max_attempts=config.webhook_max_tries - 1,
                exponential_wait=config.webhook_retry_base_seconds,
                retry_exceptions={WebhookTryFailed},
            )
            if config.webhook_max_tries > 1
            else False
        )

        @app.task(name=DELIVER_WEBHOOK, queue=JOBS_QUEUE, retry=webhook_retry, pass_context=True)
        async def deliver_webhook(context: procrastinate.JobContext, delivery_id: str) -> None:
            try_number = context.job.attempts + 1
            status = await attempt(UUID(delivery_id), try_number)
            log.info("webhook.try", delivery_id=delivery_id, try_number=try_number, status=status)
            if status is DeliveryStatus.PENDING:
                raise WebhookTryFailed(delivery_id)

    @app.periodic(cron="*/10 * * * *", periodic_id="housekeeping")
    @app.task(name=HOUSEKEEPING, queue=JOBS_QUEUE, queueing_lock=HOUSEKEEPING, retry=retry)
    async def run_housekeeping(timestamp: int) -> None:
        log.info("housekeeping.done", **await housekeeping())

    if reminders is not None:
        scan = reminders

        @app.periodic(cron="*/10 * * * *", periodic_id="reminders")
        @app.task(name=REMINDERS, queue=JOBS_QUEUE, queueing_lock=REMINDERS, retry=retry)
        async def create_due_reminders(timestamp: int) -> None:
            log.info("reminders.created", count=await scan())

    @app.periodic(cron=f"* * * * * */{config.stalled_check_seconds}", periodic_id="stalled")
    @app.task(name=RETRY_STALLED, queue=JOBS_QUEUE, queueing_lock=RETRY_STALLED)
    async def retry_stalled_jobs(timestamp: int) -> None:
        await requeue_stalled(app, config.stalled_after_seconds)

    return app


async def requeue_stalled(app: procrastinate.App, stalled_after_seconds: float) -> int:
    """Put back in the queue the jobs of workers that stopped sending heartbeats (killed,
    or cut off from the database); their handlers are idempotent."""
    manager = app.job_manager
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_seconds)
    for job in stalled:
        log.warning("job.stalled_requeued", job_id=job.id, task=job.task_name)
        await manager.retry_job(job)
    return len(list(stalled))


async def run_worker(app: procrastinate.App, config: WorkerConfig, *, in_process: bool) -> None:
    """Run until cancelled (in-process) or until SIGINT/SIGTERM (``vetchart worker``)."""
    await requeue_stalled(app, config.stalled_after_seconds)
    await app.run_worker_async(
        queues=[EVENTS_QUEUE, JOBS_QUEUE],
        concurrency=config.concurrency,
        update_heartbeat_interval=config.heartbeat_seconds,
        stalled_worker_timeout=config.stalled_after_seconds,
        install_signal_handlers=not in_process,
    )


async def run_embedded_worker(app: procrastinate.App, config: WorkerConfig) -> None:
    """A worker inside the API process, until cancelled. It never holds up the API: if
    the database cannot serve the worker yet (not migrated, restarting), it waits and
    tries again with a capped back-off."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        wait=wait_exponential_jitter(initial=1, max=_EMBEDDED_RETRY_MAX_SECONDS),
        before_sleep=lambda state: log.warning(
            "worker.embedded_waiting",
            attempt=state.attempt_number,
            error=type(state.outcome.exception()).__name__ if state.outcome else None,
        ),
    ):
        with attempt:
            async with app.open_async():
                await run_worker(app, config, in_process=True)


async def job_counts(app: procrastinate.App) -> dict[tuple[str, str], int]:
    """Jobs per (queue, status): what `vetchart worker status` shows."""
    counts: dict[tuple[str, str], int] = {}
    for row in await app.job_manager.list_queues_async():
        for status in ("todo", "doing", "succeeded", "failed", "cancelled", "aborted"):
            value = row.get(status)
            if value:
                counts[(str(row["name"]), status)] = int(value)
    return counts


async def retry_failed(app: procrastinate.App, job_id: int) -> None:
    """Send a job in the `failed` state back to the queue, now."""
    await app.job_manager.retry_job_by_id_async(
        job_id, retry_at=datetime.datetime.now(datetime.UTC)
    )
