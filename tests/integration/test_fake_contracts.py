"""The in-memory fakes of tests/fixtures/fakes.py and the PostgreSQL adapters keep the same
contract: every test here runs twice, once on each (``memory`` and ``postgres``), so a
fake cannot drift from the adapter it stands in for without a test failing.

Each contract is small: what the port documents (conflicts, not-found answers, single-use
tokens and codes, claims that succeed once) and what a unit of work promises (nothing
without a commit, audit rows and events with it).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.fakes import InMemoryDatabase, InMemoryIdempotencyStore
from vetchart.adapters.db.engine import create_engine, session_factory
from vetchart.adapters.db.idempotency import SqlIdempotencyStore
from vetchart.adapters.db.tables import audit_events, outbox_events
from vetchart.adapters.db.uow import SqlAlchemyUnitOfWork
from vetchart.adapters.security.mfa import FernetSecretBox
from vetchart.adapters.system import SystemClock, Uuid7Ids
from vetchart.config import DatabaseSettings
from vetchart.domain.audit import AuditEntry, AuditKey, Outcome, RequestMeta
from vetchart.domain.errors import Conflict
from vetchart.domain.practices import InvitationCreated, Practice
from vetchart.domain.sessions import SessionRecord
from vetchart.domain.throttle import ThrottleState
from vetchart.domain.users import Role, User
from vetchart.services.ports.identity import Invitation, RefreshTokenState
from vetchart.services.ports.system import Claim, IdempotencyStore, StoredResponse
from vetchart.services.ports.unit_of_work import UnitOfWorkFactory

META = RequestMeta(request_id="contract", client_address="203.0.113.9", user_agent="pytest")


@dataclass
class Backend:
    """One implementation of the ports, and how a test reads what it committed."""

    name: str
    uow: UnitOfWorkFactory
    idempotency: IdempotencyStore
    audit_actions: Callable[[], Any]  # async () -> list of committed audit actions
    event_ids: Callable[[], Any]  # async () -> ids of the committed outbox events


@pytest.fixture(params=["memory", "postgres"])
def backend_url(request: pytest.FixtureRequest) -> str | None:
    """None for the fakes; a fresh database for the adapters (asked for only then, and
    outside the event loop: the database fixtures run their own)."""
    return None if request.param == "memory" else str(request.getfixturevalue("database_url"))


@pytest.fixture
async def backend(backend_url: str | None) -> AsyncIterator[Backend]:
    if backend_url is None:
        db = InMemoryDatabase()

        async def memory_actions() -> list[str]:
            return db.actions()

        async def memory_events() -> list[UUID]:
            return list(db.tables.outbox)

        yield Backend("memory", db.uow, InMemoryIdempotencyStore(), memory_actions, memory_events)
        return
    url = backend_url
    engine: AsyncEngine = create_engine(
        url,
        DatabaseSettings(url=url, pool_size=2, max_overflow=0, app_role=""),
        application_name="vetchart-test-contracts",
    )
    sessions = session_factory(engine)
    box = FernetSecretBox("contract-secret")
    clock, ids = SystemClock(), Uuid7Ids()
    key = AuditKey(b"contract-audit-key-that-is-long-enough-000")

    def new_uow() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(sessions, clock, ids, box, key)

    async def pg_actions() -> list[str]:
        query = select(audit_events.c.action).order_by(audit_events.c.occurred_at)
        async with engine.connect() as conn:
            return list((await conn.scalars(query)).all())

    async def pg_events() -> list[UUID]:
        async with engine.connect() as conn:
            return list((await conn.scalars(select(outbox_events.c.id))).all())

    try:
        yield Backend("postgres", new_uow, SqlIdempotencyStore(engine), pg_actions, pg_events)
    finally:
        await engine.dispose()


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _user(email: str | None = None, role: Role = Role.PET_OWNER) -> User:
    now = _now()
    return User(
        id=uuid.uuid4(),
        email=email or f"{uuid.uuid4().hex[:10]}@contract.example",
        full_name="Contract Person",
        role=role,
        practice_id=None,
        is_active=True,
        password_hash="hash",
        mfa_enabled=False,
        created_at=now,
        updated_at=now,
        password_changed_at=now,
    )


async def _stored_user(backend: Backend) -> User:
    user = _user()
    async with backend.uow() as uow:
        await uow.users.add(user)
        await uow.commit()
    return user


# --------------------------------------------------------------------------- unit of work


async def test_nothing_without_a_commit_and_everything_with_it(backend: Backend) -> None:
    user = _user()
    async with backend.uow() as uow:
        await uow.users.add(user)
        uow.audit.record(
            AuditEntry("contract.dropped", "user", str(user.id), Outcome.SUCCESS), META
        )
    async with backend.uow() as uow:
        assert await uow.users.get(user.id) is None
    assert "contract.dropped" not in await backend.audit_actions()

    async with backend.uow() as uow:
        await uow.users.add(user)
        uow.audit.record(AuditEntry("contract.kept", "user", str(user.id), Outcome.SUCCESS), META)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.users.get(user.id) == user
    assert (await backend.audit_actions()).count("contract.kept") == 1


# --------------------------------------------------------------------------- identity


async def test_users_unique_email_and_not_found(backend: Backend) -> None:
    user = await _stored_user(backend)
    async with backend.uow() as uow:
        assert await uow.users.get_by_email(user.email) == user
        assert await uow.users.get(uuid.uuid4()) is None
        assert await uow.users.get_by_email("nobody@contract.example") is None
        with pytest.raises(Conflict) as taken:
            await uow.users.add(_user(user.email))
        assert taken.value.code == "email-taken"
    renamed = replace(user, full_name="Renamed Person", mfa_last_timestep=7)
    async with backend.uow() as uow:
        await uow.users.save(renamed)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.users.get(user.id, for_update=True) == renamed


async def test_practices_unique_license_and_lookup_by_name(backend: Backend) -> None:
    now = _now()
    name = f"Contract Clinic {uuid.uuid4().hex[:6]}"
    first = Practice(
        id=uuid.uuid4(),
        name=name,
        timezone="UTC",
        created_at=now,
        updated_at=now,
        license_number=uuid.uuid4().hex[:8],
    )
    second = Practice(
        id=uuid.uuid4(), name=f"{name} 2", timezone="UTC", created_at=now, updated_at=now
    )
    async with backend.uow() as uow:
        await uow.practices.add(first)
        await uow.practices.add(second)
        await uow.commit()
    taken = first.license_number
    async with backend.uow() as uow:
        assert await uow.practices.get_by_name(name) == first
        assert await uow.practices.get_by_name("No Such Clinic") is None
        assert await uow.practices.get(uuid.uuid4()) is None
        clash = Practice(
            id=uuid.uuid4(),
            name="Clash",
            timezone="UTC",
            created_at=now,
            updated_at=now,
            license_number=first.license_number,
        )
        with pytest.raises(Conflict) as on_add:
            await uow.practices.add(clash)
        assert on_add.value.code == "license-number-taken"
        with pytest.raises(Conflict) as on_save:
            await uow.practices.save(replace(second, license_number=taken))
        assert on_save.value.code == "license-number-taken"


async def test_invitations_by_token_hash_and_acceptance(backend: Backend) -> None:
    now = _now()
    inviter = await _stored_user(backend)
    practice = Practice(
        id=uuid.uuid4(),
        name=f"Inviting {uuid.uuid4().hex[:6]}",
        timezone="UTC",
        created_at=now,
        updated_at=now,
    )
    token_hash = uuid.uuid4().bytes * 2
    invitation = Invitation(
        uuid.uuid4(), practice.id, "invitee@contract.example", Role.VET, token_hash,
        inviter.id, now, now + timedelta(days=7),
    )  # fmt: skip
    async with backend.uow() as uow:
        await uow.practices.add(practice)
        await uow.invitations.add(invitation)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.invitations.get_by_token_hash(token_hash) == invitation
        assert await uow.invitations.get_by_token_hash(b"unknown") is None
        await uow.invitations.mark_accepted(invitation.id, inviter.id, now)
        await uow.commit()
    async with backend.uow() as uow:
        accepted = await uow.invitations.get_by_token_hash(token_hash)
    assert accepted == replace(invitation, accepted_at=now, accepted_user_id=inviter.id)


async def test_sessions_refresh_tokens_and_revocation(backend: Backend) -> None:
    user = await _stored_user(backend)
    now = _now()

    def session(created: datetime) -> SessionRecord:
        return SessionRecord(
            uuid.uuid4(), user.id, created, created, created + timedelta(days=1), 3600,
            client_address="203.0.113.9", user_agent="pytest",
        )  # fmt: skip

    older, newer, idle = session(now - timedelta(minutes=5)), session(now), session(now)
    idle = replace(idle, last_used_at=now - timedelta(hours=2), created_at=now - timedelta(hours=2))
    token = uuid.uuid4().bytes
    async with backend.uow() as uow:
        for record in (older, newer, idle):
            await uow.sessions.add(record)
        await uow.sessions.add_refresh_token(uuid.uuid4(), older.id, token, now)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.sessions.get(older.id) == older
        assert await uow.sessions.get(uuid.uuid4()) is None
        assert [s.id for s in await uow.sessions.list_active(user.id, now)] == [newer.id, older.id]
        spent = await uow.sessions.spend_refresh_token(token, now)
        assert (spent.state, spent.session_id) == (RefreshTokenState.SPENT_NOW, older.id)
        again = await uow.sessions.spend_refresh_token(token, now)
        assert (again.state, again.session_id) == (RefreshTokenState.ALREADY_SPENT, older.id)
        unknown = await uow.sessions.spend_refresh_token(b"never issued", now)
        assert (unknown.state, unknown.session_id) == (RefreshTokenState.UNKNOWN, None)
        later = now + timedelta(minutes=1)
        await uow.sessions.touch(older.id, later)
        found = await uow.sessions.principal(older.id, user.id)
        assert found is not None
        assert (found.user, found.session.last_used_at) == (user, later)
        assert await uow.sessions.principal(older.id, uuid.uuid4()) is None
        assert await uow.sessions.revoke(newer.id, now, "logout") is True
        assert await uow.sessions.revoke(newer.id, now, "logout") is False
        assert await uow.sessions.revoke_all(user.id, now, "logout_all", keep=older.id) == [idle.id]
        await uow.commit()
    async with backend.uow() as uow:
        revoked = await uow.sessions.get(newer.id)
        assert revoked is not None
        assert (revoked.revoked_at, revoked.revoked_reason) == (now, "logout")
        assert [s.id for s in await uow.sessions.list_active(user.id, now)] == [older.id]


async def test_throttles_lock_save_clear_and_purge(backend: Backend) -> None:
    now = _now()
    prefix = f"contract:{uuid.uuid4().hex[:8]}:"
    async with backend.uow() as uow:
        assert await uow.throttles.peek(prefix + "a") is None
        fresh = await uow.throttles.lock(prefix + "a", now)
        assert fresh == ThrottleState.fresh(prefix + "a", now)
        # Saving a key that was never locked writes nothing.
        await uow.throttles.save(ThrottleState.fresh(prefix + "ghost", now), now)
        locked = replace(fresh, failure_count=3, locked_until=now + timedelta(minutes=5))
        await uow.throttles.save(locked, now)
        await uow.throttles.lock(prefix + "b", now - timedelta(days=40))
        await uow.throttles.lock(prefix + "c", now)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.throttles.peek(prefix + "a") == locked
        assert await uow.throttles.peek(prefix + "ghost") is None
        assert await uow.throttles.purge_idle(now - timedelta(days=31), now) == 1  # b only
        assert await uow.throttles.peek(prefix + "b") is None
        assert await uow.throttles.clear_many([prefix + "c"], []) == 1
        await uow.throttles.lock(prefix + "d", now)
        assert await uow.throttles.clear_many([], [prefix]) == 2  # a and d
        assert await uow.throttles.clear_many([], []) == 0
        await uow.commit()


async def test_recovery_codes_are_single_use(backend: Backend) -> None:
    user = await _stored_user(backend)
    now = _now()
    async with backend.uow() as uow:
        await uow.recovery_codes.replace(user.id, [b"one", b"two"], now)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.recovery_codes.use(user.id, b"one", now) is True
        assert await uow.recovery_codes.use(user.id, b"one", now) is False
        assert await uow.recovery_codes.use(user.id, b"three", now) is False
        await uow.recovery_codes.replace(user.id, [b"four"], now)
        assert await uow.recovery_codes.use(user.id, b"two", now) is False  # replaced
        await uow.recovery_codes.clear(user.id)
        assert await uow.recovery_codes.use(user.id, b"four", now) is False


# --------------------------------------------------------------------------- outbox and jobs


async def test_outbox_events_sealed_claimed_once_delivered_and_purged(backend: Backend) -> None:
    now = _now()
    event = InvitationCreated(
        invitation_id=uuid.uuid4(), practice_id=uuid.uuid4(), practice_name="Contract Clinic",
        email="invitee@contract.example", role="VET", expires_at=now, token="secret-token",
    )  # fmt: skip
    async with backend.uow() as uow:
        uow.record(event)
        assert uow.collected_events() == [event]
        await uow.commit()
    [event_id] = await backend.event_ids()
    async with backend.uow() as uow:
        message = await uow.outbox.get(event_id)
        assert await uow.outbox.get(uuid.uuid4()) is None
        assert message is not None
        assert message.event_type == "InvitationCreated"
        assert message.payload["token"] == "secret-token"  # opened again
        assert message.payload["invitation_id"] == str(event.invitation_id)
        assert message.delivered_at is None
        assert await uow.outbox.claim("mail", event_id, now) is True
        assert await uow.outbox.claim("mail", event_id, now) is False
        assert await uow.outbox.claim("cache", event_id, now) is True
        await uow.outbox.mark_delivered(event_id, now)
        await uow.commit()
    async with backend.uow() as uow:
        delivered = await uow.outbox.get(event_id)
        assert delivered is not None
        assert delivered.delivered_at == now
        assert await uow.outbox.purge_delivered(now) == 0  # not older than now
        assert await uow.outbox.purge_delivered(now + timedelta(seconds=1)) == 1
        assert await uow.outbox.get(event_id) is None
        await uow.commit()


# --------------------------------------------------------------------------- idempotency


async def test_idempotency_claims_replays_and_leases(backend: Backend) -> None:
    user = await _stored_user(backend)
    store, now, lease = backend.idempotency, _now(), timedelta(seconds=30)
    first = await store.claim(user.id, "k1", b"fp", now, lease=lease)
    assert (first.claim, first.claimed_at) == (Claim.NEW, now)
    assert (await store.claim(user.id, "k1", b"fp", now, lease=lease)).claim is Claim.IN_PROGRESS
    assert (await store.claim(user.id, "k1", b"other", now, lease=lease)).claim is Claim.MISMATCH
    response = StoredResponse(201, b'{"id": 1}', {"location": "/x"})
    await store.complete(user.id, "k1", now, response)
    replay = await store.claim(user.id, "k1", b"fp", now, lease=lease)
    assert (replay.claim, replay.stored) == (Claim.REPLAY, response)
    # A claim past its lease is taken over; the old attempt can no longer abandon it.
    await store.claim(user.id, "k2", b"fp", now, lease=lease)
    later = now + timedelta(minutes=1)
    taken = await store.claim(user.id, "k2", b"fp", later, lease=lease)
    assert (taken.claim, taken.claimed_at) == (Claim.NEW, later)
    await store.abandon(user.id, "k2", now)
    assert (await store.claim(user.id, "k2", b"fp", later, lease=lease)).claim is Claim.IN_PROGRESS
    await store.abandon(user.id, "k2", later)
    assert (await store.claim(user.id, "k2", b"fp", later, lease=lease)).claim is Claim.NEW
    assert await store.purge_expired(now + timedelta(hours=23)) == 0
    assert await store.purge_expired(later + timedelta(hours=25)) == 2
