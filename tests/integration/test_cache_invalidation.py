"""One cache invalidation path (issue 14): the outbox events a change writes.

The unit of work hands the events of each commit to its ``after_commit`` subscriber once
the commit succeeded (never for a rollback, and a failing subscriber cannot fail the
committed change); ``CacheInvalidation`` forgets each named practice's dashboards; no
service invalidates by hand; and over HTTP a medical record's change shows on a cached
dashboard at once, before any delivery (the dashboard tests cover the rest). The
principal cache is forgotten the same way (``SessionsChanged``; over HTTP:
tests/api/test_session_cache_invalidation.py)."""

from __future__ import annotations

import ast
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.test_dashboard import Day, cached, ids
from vetchart import services
from vetchart.adapters.cache import MemoryDashboardCache
from vetchart.adapters.db.engine import create_engine, session_factory
from vetchart.adapters.db.uow import SqlAlchemyUnitOfWork
from vetchart.adapters.security.cache import TtlPrincipalCache
from vetchart.adapters.security.mfa import FernetSecretBox
from vetchart.adapters.system import SystemClock, Uuid7Ids
from vetchart.config import DatabaseSettings
from vetchart.domain.audit import AuditKey
from vetchart.domain.events import DomainEvent
from vetchart.domain.policy import Principal
from vetchart.domain.users import Role
from vetchart.services.invalidation import DASHBOARD_EVENTS, SESSION_EVENTS, CacheInvalidation
from vetchart.services.ports.outbox import OutboxMessage

__all__ = ["cached"]  # the dashboard fixture, used below


@dataclass(frozen=True, kw_only=True)
class SomethingChanged(DomainEvent):
    practice_id: uuid.UUID


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(
        database_url,
        DatabaseSettings(url=database_url, pool_size=2, max_overflow=0, app_role=""),
        application_name="vetchart-test-invalidation",
    )
    try:
        yield engine
    finally:
        await engine.dispose()


class Subscriber:
    """Records what it is given, and how many outbox rows were committed at that time."""

    def __init__(self, engine: AsyncEngine, *, fail: bool = False) -> None:
        self.engine = engine
        self.fail = fail
        self.calls: list[list[OutboxMessage]] = []
        self.committed_then: list[int] = []

    async def __call__(self, messages: Sequence[OutboxMessage]) -> None:
        self.calls.append(list(messages))
        async with self.engine.connect() as conn:
            self.committed_then.append(
                int(await conn.scalar(text("SELECT count(*) FROM outbox_events")) or 0)
            )
        if self.fail:
            raise RuntimeError("the subscriber failed")


def _uow(engine: AsyncEngine, subscriber: Subscriber) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(
        session_factory(engine),
        SystemClock(),
        Uuid7Ids(),
        FernetSecretBox("t" * 40),
        AuditKey(b"k" * 32),
        after_commit=subscriber,
    )


async def test_the_events_of_a_commit_reach_the_subscriber_after_the_commit(
    engine: AsyncEngine,
) -> None:
    subscriber = Subscriber(engine)
    practice = uuid.uuid4()
    uow = _uow(engine, subscriber)
    async with uow:
        uow.record(SomethingChanged(practice_id=practice))
        uow.record(SomethingChanged(practice_id=practice))
        assert subscriber.calls == []
        await uow.commit()
    assert len(subscriber.calls) == 1
    (messages,) = subscriber.calls
    assert [m.event_type for m in messages] == ["SomethingChanged", "SomethingChanged"]
    assert {m.payload["practice_id"] for m in messages} == {str(practice)}
    assert all(m.delivered_at is None for m in messages)
    # The same rows as the outbox's, already committed when the subscriber ran.
    assert subscriber.committed_then == [2]
    async with engine.connect() as conn:
        saved = set((await conn.execute(text("SELECT id FROM outbox_events"))).scalars())
    assert {m.id for m in messages} == saved


async def test_nothing_reaches_the_subscriber_without_a_commit_or_without_events(
    engine: AsyncEngine,
) -> None:
    subscriber = Subscriber(engine)
    rolled_back = _uow(engine, subscriber)
    async with rolled_back:
        rolled_back.record(SomethingChanged(practice_id=uuid.uuid4()))
    no_events = _uow(engine, subscriber)
    async with no_events:
        await no_events.commit()
    assert subscriber.calls == []


async def test_a_failing_subscriber_does_not_fail_the_committed_change(
    engine: AsyncEngine,
) -> None:
    subscriber = Subscriber(engine, fail=True)
    uow = _uow(engine, subscriber)
    async with uow:
        uow.record(SomethingChanged(practice_id=uuid.uuid4()))
        await uow.commit()  # does not raise
    assert len(subscriber.calls) == 1
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM outbox_events")) == 1


def _message(event_type: str, practice: uuid.UUID) -> OutboxMessage:
    return OutboxMessage(
        id=uuid.uuid4(),
        event_type=event_type,
        payload={"practice_id": str(practice)},
        occurred_at=datetime.now(UTC),
        delivered_at=None,
    )


async def test_dashboard_events_forget_their_practices_dashboards_once() -> None:
    cache = MemoryDashboardCache(60)
    riverside, hillcrest, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for practice in (riverside, hillcrest, elsewhere):
        await cache.put(practice, 0, "today:all", b"cached")
    await CacheInvalidation(cache, TtlPrincipalCache(ttl_seconds=60)).invalidate(
        [
            _message("AppointmentChanged", riverside),
            _message("MedicalRecordAmended", riverside),
            _message("VisitChanged", hillcrest),
            _message("InvitationCreated", elsewhere),  # not shown on a dashboard
        ]
    )
    assert await cache.generation(riverside) == 1  # once for both of its events
    assert await cache.generation(hillcrest) == 1
    assert await cache.generation(elsewhere) == 0
    assert await cache.get(elsewhere, 0, "today:all") == b"cached"
    assert await cache.get(riverside, await cache.generation(riverside), "today:all") is None


def test_the_outbox_handlers_are_the_same_subscriber() -> None:
    invalidation = CacheInvalidation(MemoryDashboardCache(60), TtlPrincipalCache(ttl_seconds=60))
    handler = invalidation.handler()
    # Claims are stored under the handler's name: it stays what it was.
    assert handler.name == "cache.dashboard"
    assert handler.event_types == DASHBOARD_EVENTS
    assert handler.handle == invalidation.handle
    sessions = invalidation.sessions_handler()
    assert (sessions.name, sessions.event_types) == ("cache.sessions", SESSION_EVENTS)
    assert sessions.handle == invalidation.handle
    assert {"SessionsChanged"} == SESSION_EVENTS


def _principal(session_id: uuid.UUID) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        role=Role.VET,
        practice_id=uuid.uuid4(),
        session_id=session_id,
        mfa_enabled=False,
        full_name="Dr Who",
    )


async def test_sessions_changed_forgets_the_named_sessions_principals_only() -> None:
    principals = TtlPrincipalCache(ttl_seconds=60)
    dashboards = MemoryDashboardCache(60)
    gone, also_gone, kept = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for session_id in (gone, also_gone, kept):
        principals.put(_principal(session_id))
    practice = uuid.uuid4()
    changed = OutboxMessage(
        id=uuid.uuid4(),
        event_type="SessionsChanged",
        payload={
            "user_id": str(uuid.uuid4()),
            "session_ids": [str(gone), str(also_gone)],
            "reason": "logout_all",
        },
        occurred_at=datetime.now(UTC),
        delivered_at=None,
    )
    await CacheInvalidation(dashboards, principals).invalidate(
        [changed, _message("InvitationCreated", practice)]
    )
    assert principals.get(gone) is None
    assert principals.get(also_gone) is None
    assert principals.get(kept) is not None
    assert await dashboards.generation(practice) == 0  # sessions are no dashboard's


def test_no_service_invalidates_the_principal_cache_by_hand() -> None:
    """Only services/invalidation.py calls ``invalidate``; the auth services record a
    ``SessionsChanged`` event instead (services/invalidation.py ``sessions_changed``)."""
    root = Path(services.__file__).parent
    callers = set()
    for file in sorted(root.rglob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "invalidate"
            ):
                callers.add(str(file.relative_to(root)))
    assert callers == {"invalidation.py"}


def test_no_service_invalidates_a_cache_of_answers_by_hand() -> None:
    """``DashboardCache`` is used by the dashboard (reads and puts) and invalidated only
    by services/invalidation.py."""
    root = Path(services.__file__).parent
    users: dict[str, bool] = {}
    for file in sorted(root.rglob("*.py")):
        source = file.read_text(encoding="utf-8")
        if "DashboardCache" not in source or file.parent.name == "ports":
            continue
        calls = {
            node.func.attr
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        users[str(file.relative_to(root))] = "invalidate" in calls
    assert users == {"appointments.py": False, "invalidation.py": True}


async def test_a_record_change_shows_on_a_cached_dashboard_before_any_delivery(
    cached: Day,
) -> None:
    d = cached
    pet = d.owners[0][1][0]["id"]
    _, fresh_count = await d.counted()
    _, cached_count = await d.counted()
    assert cached_count < fresh_count
    due = await d.record(pet, d.today)  # no deliver_events: the commit invalidated
    shown, count = await d.counted()
    assert count == fresh_count
    assert ids(shown.json()["follow_ups"]) == [due["id"]]
