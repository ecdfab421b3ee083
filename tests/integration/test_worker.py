"""The outbox and the worker (procrastinate) on a real PostgreSQL and a real SMTP server:
delivery after commit only, at-least-once delivery to handlers that act once, retries
ending in a visible failed state, a killed worker's job run again, two workers sharing
1,000 events."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select, text

from tests.conftest import make_settings
from vetchart import bootstrap
from vetchart.adapters.db.tables import handled_events, outbox_events
from vetchart.bootstrap import Container
from vetchart.config import MailSettings, WorkerSettings
from vetchart.domain.practices import InvitationCreated
from vetchart.services.ports.outbox import MailMessage

VETCHART = Path(sys.executable).parent / "vetchart"
TOKEN = "invitation-token-0123456789abcdefghijklmnopqrstuvwxyz"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """An SMTP server's handler: counts complete messages by Message-ID; can hold the
    first transaction at RCPT (a stuck delivery) until released."""

    def __init__(self) -> None:
        self.message_ids: list[str] = []
        self.hold_first = False
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.hold_first:
            self.hold_first = False
            self.held.set()
            await self.release.wait()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        self.message_ids.append(str(message_from_bytes(raw)["Message-ID"]))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        inbox.release.set()
        controller.stop()


def _settings(database_url: str, smtp_port: int, **worker: object) -> object:
    return make_settings(
        database_url,
        mail=MailSettings(smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_starttls=False),
        worker=WorkerSettings(**worker),  # type: ignore[arg-type]
    )


@pytest.fixture
async def container(database_url: str, smtp: tuple[Inbox, int]) -> AsyncIterator[Container]:
    settings = _settings(database_url, smtp[1], max_attempts=2, retry_base_seconds=1)
    built = await bootstrap.build_container(settings, database_url=database_url)  # type: ignore[arg-type]
    try:
        yield built
    finally:
        await built.aclose()


def _invitation(n: int = 0) -> InvitationCreated:
    return InvitationCreated(
        invitation_id=uuid4(),
        practice_id=uuid4(),
        practice_name="Riverside Animal Clinic",
        email=f"new.vet{n}@example.com",
        role="VET",
        expires_at=datetime.now(UTC) + timedelta(days=7),
        token=TOKEN,
    )


async def _raise_events(container: Container, count: int = 1) -> list[UUID]:
    async with container.uow() as uow:
        for n in range(count):
            uow.record(_invitation(n))
        await uow.commit()
    async with container.engine.connect() as conn:
        rows = await conn.execute(select(outbox_events.c.id).order_by(outbox_events.c.id))
        return [row.id for row in rows]


async def _scalar(container: Container, sql: str) -> int:
    async with container.engine.connect() as conn:
        return int(await conn.scalar(text(sql)) or 0)


async def _drain(container: Container) -> None:
    """Run a worker in this process until the queues are empty (wait=False)."""
    app = container.worker.job_app()
    async with app.open_async():
        await app.run_worker_async(
            queues=["events", "jobs"], wait=False, install_signal_handlers=False
        )


async def test_events_are_saved_with_the_commit_and_delivered_after_it(
    container: Container, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    # Rolled back: neither the event nor its job exists.
    async with container.uow() as uow:
        uow.record(_invitation())
    assert await _scalar(container, "SELECT count(*) FROM outbox_events") == 0
    assert await _scalar(container, "SELECT count(*) FROM procrastinate_jobs") == 0

    # Committed: one outbox row and one queued delivery job, nothing sent yet.
    [event_id] = await _raise_events(container)
    assert (
        await _scalar(container, "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")
        == 1
    )
    # The token is sealed in the outbox, never stored in clear.
    async with container.engine.connect() as conn:
        payload = await conn.scalar(select(outbox_events.c.payload))
    assert TOKEN not in str(payload)
    assert inbox.message_ids == []

    await _drain(container)
    assert len(inbox.message_ids) == 1
    assert str(event_id) in inbox.message_ids[0]
    async with container.engine.connect() as conn:
        delivered = await conn.scalar(select(outbox_events.c.delivered_at))
        claims = (await conn.execute(select(handled_events))).all()
    assert delivered is not None
    assert [(row.handler, row.event_id) for row in claims] == [("mail.invitation", event_id)]
    # Successful jobs are removed from the queue.
    assert await _queue_empty(container)


async def test_a_handler_run_twice_acts_once(container: Container, smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    [event_id] = await _raise_events(container)
    first = await container.delivery.deliver(event_id)
    second = await container.delivery.deliver(event_id)
    assert first.handled == ("mail.invitation",)
    assert second.handled == ()
    assert second.skipped == ("mail.invitation",)
    assert len(inbox.message_ids) == 1


async def test_concurrent_deliveries_of_one_event_act_once(
    container: Container, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    [event_id] = await _raise_events(container)
    results = await asyncio.gather(*(container.delivery.deliver(event_id) for _ in range(4)))
    assert sum(len(result.handled) for result in results) == 1
    assert len(inbox.message_ids) == 1


class _BrokenMailer:
    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message: MailMessage) -> None:
        self.calls += 1
        raise ConnectionRefusedError(111, "Connection refused")


async def test_failing_jobs_retry_with_backoff_then_stay_failed(
    container: Container, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    broken = _BrokenMailer()
    container.invitation_mail.mailer = broken
    [event_id] = await _raise_events(container)

    await _drain(container)
    # First try failed: the job waits for its retry (1 ** 1 s back-off), not failed yet.
    async with container.engine.connect() as conn:
        job = (
            await conn.execute(
                text(
                    "SELECT status, attempts, scheduled_at FROM procrastinate_jobs"
                    " WHERE queue_name = 'events'"
                )
            )
        ).one()
    assert (job.status, job.attempts) == ("todo", 1)
    assert job.scheduled_at is not None
    assert job.scheduled_at > datetime.now(UTC) - timedelta(seconds=1)
    assert broken.calls == 1

    # The back-off passes: the retry falls due now (a moved clock, not a sleep).
    async with container.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE procrastinate_jobs SET scheduled_at = now()"
                " WHERE queue_name = 'events' AND status = 'todo'"
            )
        )
    await _drain(container)
    status = await _scalar(
        container,
        "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed' AND attempts = 2",
    )
    assert status == 1, "after max_attempts the job stays visible in the failed state"
    assert broken.calls == 2
    assert inbox.message_ids == []
    # Nothing was claimed: a failed handler's claim rolled back with it.
    assert await _scalar(container, "SELECT count(*) FROM handled_events") == 0

    # An operator fixes the cause and retries it: it goes out once.
    counts = await container.worker.job_counts()
    assert counts[("events", "failed")] == 1
    job_id = await _scalar(
        container, "SELECT id FROM procrastinate_jobs WHERE queue_name = 'events'"
    )
    container.invitation_mail.mailer = bootstrap.build_mailer(container.settings)
    await container.worker.retry_failed_job(job_id)
    await _drain(container)
    assert len(inbox.message_ids) == 1
    assert str(event_id) in inbox.message_ids[0]


# --------------------------------------------------------------------------- processes


def _worker_env(database_url: str, smtp_port: int, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("VETCHART_") and key not in {"DATABASE_URL", "TEST_DATABASE_URL"}
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "VETCHART_ENV": "test",
            "VETCHART_SMTP_HOST": "127.0.0.1",
            "VETCHART_SMTP_PORT": str(smtp_port),
            "VETCHART_SMTP_STARTTLS": "false",
            "VETCHART_SMTP_TIMEOUT_SECONDS": "60",
            "VETCHART_LOG_JSON": "true",
            "VETCHART_LOG_LEVEL": "INFO",
            "VETCHART_WORKER_HEARTBEAT_SECONDS": "0.5",
            "VETCHART_WORKER_STALLED_AFTER_SECONDS": "3",
            "VETCHART_WORKER_STALLED_CHECK_SECONDS": "1",
            **extra,
        }
    )
    return env


class WorkerProcess:
    """A `vetchart worker` process; its output goes to a file (a pipe nobody reads
    would fill up and stall it)."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.log_file = cwd / f"worker-{uuid4().hex[:8]}.log"
        with self.log_file.open("w") as sink:
            self.process = subprocess.Popen(  # noqa: S603 - our own console script
                [str(VETCHART), "worker"],
                env=env,
                cwd=cwd,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> str:
        """SIGTERM (a graceful stop), then the output."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log_file.read_text()


async def _wait_for(predicate, limit: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
async def test_a_killed_worker_s_job_runs_again_and_acts_once(
    container: Container, smtp: tuple[Inbox, int], database_url: str, tmp_path: Path
) -> None:
    inbox, port = smtp
    inbox.hold_first = True
    [event_id] = await _raise_events(container)
    env = _worker_env(database_url, port)
    first = WorkerProcess(env, tmp_path)
    try:
        # The first worker is in the middle of the job: its mail is stuck at RCPT.
        await asyncio.wait_for(inbox.held.wait(), timeout=30)
    finally:
        first.kill()  # SIGKILL: no clean-up, no chance to mark anything
    inbox.release.set()
    assert inbox.message_ids == []
    assert await _scalar(container, "SELECT count(*) FROM handled_events") == 0
    assert (
        await _scalar(container, "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'")
        == 1
    )

    second = WorkerProcess(env, tmp_path)
    try:

        async def handled() -> bool:
            return await _scalar(container, "SELECT count(*) FROM handled_events") == 1

        await _wait_for(handled, 30, "the stalled job to run again")
        await _wait_for(lambda: _queue_empty(container), 10, "the job to leave the queue")
    finally:
        output = second.stop()
    assert "job.stalled_requeued" in output, output
    assert len(inbox.message_ids) == 1, inbox.message_ids
    assert str(event_id) in inbox.message_ids[0]


async def _queue_empty(container: Container) -> bool:
    """No event delivery left (periodic housekeeping jobs live in the other queue)."""
    sql = "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = 'events'"
    return await _scalar(container, sql) == 0


@pytest.mark.slow
async def test_two_workers_share_a_thousand_events_each_handled_once(
    container: Container, smtp: tuple[Inbox, int], database_url: str, tmp_path: Path
) -> None:
    inbox, port = smtp
    events = 1000
    ids = await _raise_events(container, events)
    assert len(ids) == events
    env = _worker_env(database_url, port)
    workers = [WorkerProcess(env, tmp_path) for _ in range(2)]
    outputs: list[str] = []
    try:

        async def all_handled() -> bool:
            return await _scalar(container, "SELECT count(*) FROM handled_events") == events

        await _wait_for(all_handled, 120, "1,000 events to be handled")
        await _wait_for(lambda: _queue_empty(container), 20, "the queue to drain")
    finally:
        outputs = [worker.stop() for worker in workers]
    assert len(inbox.message_ids) == events
    assert len(set(inbox.message_ids)) == events, "an event was mailed twice"
    assert {mid.split("@")[0].strip("<") for mid in inbox.message_ids} == {str(i) for i in ids}
    per_worker = [output.count('"event.delivered"') for output in outputs]
    assert sum(per_worker) == events, per_worker
    assert all(count > 0 for count in per_worker), f"one worker did all the work: {per_worker}"
    assert (
        await _scalar(container, "SELECT count(*) FROM outbox_events WHERE delivered_at IS NULL")
        == 0
    )
