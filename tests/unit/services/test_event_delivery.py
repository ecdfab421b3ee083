"""Delivering outbox events (services/jobs.py ``EventDelivery``) with the invitation mail
handler (services/notifications.py), and housekeeping, on the in-memory fakes: a handler
acts once per event however often it is delivered, a failing one is retried, and the
clean-up removes only what is past its time."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.fixtures.fakes import InMemoryDatabase, InMemoryIdempotencyStore, RecordingMailer
from vetchart.domain.practices import InvitationCreated
from vetchart.services.jobs import DELIVER_EVENT, OUTBOX_RETENTION, EventDelivery, Housekeeping
from vetchart.services.notifications import InvitationMail

SECRET_TOKEN = "the-secret-token"


async def invited(db: InMemoryDatabase, token: str = SECRET_TOKEN) -> uuid.UUID:
    """An ``InvitationCreated`` event committed to the outbox: its id."""
    event = InvitationCreated(
        invitation_id=uuid.uuid4(),
        practice_id=uuid.uuid4(),
        practice_name="Riverside",
        email="new.vet@example.com",
        role="VET",
        expires_at=db.clock.now() + timedelta(days=7),
        token=token,
    )
    before = set(db.tables.outbox)
    async with db.uow() as uow:
        uow.record(event)
        await uow.commit()
    [event_id] = set(db.tables.outbox) - before
    return event_id


def delivery(db: InMemoryDatabase, mailer: RecordingMailer) -> EventDelivery:
    mail = InvitationMail(mailer, "https://app.vetchart.test/")
    return EventDelivery(uow=db.uow, clock=db.clock, handlers=[mail.handler()])


async def test_a_committed_event_is_queued_for_delivery_with_its_secret_sealed() -> None:
    db = InMemoryDatabase()
    event_id = await invited(db)
    assert [(job.task, job.args) for job in db.jobs] == [
        (DELIVER_EVENT, {"event_id": str(event_id)})
    ]
    stored = db.tables.outbox[event_id]
    assert stored.payload["token"] != "the-secret-token"
    assert stored.payload["email"] == "new.vet@example.com"


async def test_the_invitation_mail_goes_out_once() -> None:
    db, mailer = InMemoryDatabase(), RecordingMailer()
    event_id = await invited(db)
    first = await delivery(db, mailer).deliver(event_id)
    assert (first.found, first.handled, first.skipped) == (True, ("mail.invitation",), ())
    [message] = mailer.sent
    assert message.to == "new.vet@example.com"
    assert "token=the-secret-token" in message.text
    assert message.secrets == ("the-secret-token",)
    assert message.message_id == str(event_id)
    assert db.tables.outbox[event_id].delivered_at == db.clock.now()
    again = await delivery(db, mailer).deliver(event_id)
    assert (again.handled, again.skipped) == ((), ("mail.invitation",))
    assert len(mailer.sent) == 1


async def test_a_failed_send_leaves_the_event_to_be_retried() -> None:
    db, mailer = InMemoryDatabase(), RecordingMailer()
    event_id = await invited(db)
    mailer.failing = True
    with pytest.raises(ConnectionError):
        await delivery(db, mailer).deliver(event_id)
    assert db.tables.handled == set()  # the claim rolled back with the failure
    assert db.tables.outbox[event_id].delivered_at is None
    mailer.failing = False
    retried = await delivery(db, mailer).deliver(event_id)
    assert retried.handled == ("mail.invitation",)
    assert len(mailer.sent) == 1


async def test_a_purged_event_is_not_found() -> None:
    db = InMemoryDatabase()
    done = await delivery(db, RecordingMailer()).deliver(uuid.uuid4())
    assert (done.found, done.handled, done.skipped) == (False, (), ())


async def test_housekeeping_removes_only_what_is_past_its_time() -> None:
    db, idempotency = InMemoryDatabase(), InMemoryIdempotencyStore()
    clock = db.clock
    delivered = await invited(db)
    await delivery(db, RecordingMailer()).deliver(delivered)
    user = uuid.uuid4()
    await idempotency.claim(user, "old", b"fp", clock.now(), lease=timedelta(seconds=30))
    async with db.uow() as uow:
        await uow.throttles.lock("login:idle@example.com|192.0.2.1", clock.now())
        await uow.commit()
    clock.advance(OUTBOX_RETENTION + timedelta(minutes=1))
    await idempotency.claim(user, "new", b"fp", clock.now(), lease=timedelta(seconds=30))
    async with db.uow() as uow:
        await uow.throttles.lock("login:busy@example.com|192.0.2.1", clock.now())
        await uow.commit()
    pending = await invited(db, token="another-token")
    housekeeping = Housekeeping(
        uow=db.uow, clock=clock, idempotency=idempotency, throttle_retention=timedelta(days=5)
    )
    assert await housekeeping.run() == {
        "idempotency_keys": 1,
        "outbox_events": 1,
        "throttle_keys": 1,
    }
    assert set(db.tables.outbox) == {pending}
    assert set(db.tables.throttles) == {"login:busy@example.com|192.0.2.1"}
    assert await housekeeping.run() == {
        "idempotency_keys": 0,
        "outbox_events": 0,
        "throttle_keys": 0,
    }
