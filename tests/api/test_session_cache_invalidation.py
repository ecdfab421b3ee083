"""The principal cache is forgotten through the one invalidation path: the outbox.

A change that ends sessions or changes what their principal carries records a
``SessionsChanged`` event (user, sessions, reason) in its own transaction; the unit of
work hands it to ``CacheInvalidation`` right after the commit (this process refuses the
session at once) and the outbox dispatcher hands it again at delivery (handler
``cache.sessions``). Another process's cache is cleared by that delivery: here a second
``TtlPrincipalCache`` stands for it, with a delivery of its own over the same outbox.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from tests.api.auth_helpers import (
    ADMIN,
    API,
    DEMO_PASSWORD,
    OTHER_STRONG_PASSWORD,
    OWNER,
    RIVERSIDE_VET,
    Tokens,
    login_ok,
    me,
    seed_demo,
)
from vetchart.adapters.cache import MemoryDashboardCache
from vetchart.adapters.db.tables import outbox_events
from vetchart.adapters.security.cache import TtlPrincipalCache
from vetchart.domain.policy import Principal
from vetchart.services.invalidation import CacheInvalidation
from vetchart.services.jobs import EventDelivery


async def changes(app: FastAPI) -> list[dict[str, Any]]:
    """The undelivered ``SessionsChanged`` events' payloads, oldest first."""
    query = (
        select(outbox_events.c.payload)
        .where(
            outbox_events.c.event_type == "SessionsChanged",
            outbox_events.c.delivered_at.is_(None),
        )
        .order_by(outbox_events.c.occurred_at, outbox_events.c.id)
    )
    async with app.state.container.engine.connect() as conn:
        return [dict(row.payload) for row in await conn.execute(query)]


async def deliver(app: FastAPI, invalidation: CacheInvalidation) -> int:
    """What another process's worker does: deliver the pending events to its handler."""
    container = app.state.container
    delivery = EventDelivery(
        uow=container.uow, clock=container.clock, handlers=[invalidation.sessions_handler()]
    )
    query = select(outbox_events.c.id).where(outbox_events.c.delivered_at.is_(None))
    async with container.engine.connect() as conn:
        pending = [row.id for row in await conn.execute(query)]
    for event_id in pending:
        await delivery.deliver(event_id)
    return len(pending)


def principal(app: FastAPI, tokens: Tokens) -> Principal:
    """This process's cached principal of the session (cached by a served request)."""
    found = app.state.container.principal_cache.get(tokens.session_id)
    assert found is not None, "the session's principal is not cached"
    return found  # type: ignore[no-any-return]


def ids(*tokens: Tokens) -> list[str]:
    return [str(t.session_id) for t in tokens]


async def test_a_logout_is_refused_here_at_once_and_forgotten_elsewhere_at_delivery(
    app: FastAPI, client: AsyncClient
) -> None:
    users = await seed_demo(app)
    tokens, kept = await login_ok(client, OWNER), await login_ok(client, OWNER)
    for t in (tokens, kept):
        assert (await me(client, t.access)).status_code == 200
    elsewhere = TtlPrincipalCache(ttl_seconds=60)  # another process's cache
    elsewhere.put(principal(app, tokens))
    elsewhere.put(principal(app, kept))

    response = await client.post(f"{API}/auth/logout", headers=tokens.headers)
    assert response.status_code == 204, response.text
    # In this process, through the commit's events: forgotten, and refused at once.
    assert app.state.container.principal_cache.get(tokens.session_id) is None
    assert (await me(client, tokens.access)).status_code == 401
    assert (await me(client, kept.access)).status_code == 200
    assert await changes(app) == [
        {"user_id": str(users[OWNER].id), "session_ids": ids(tokens), "reason": "logout"}
    ]
    # The other process still remembers it until the event is delivered to it.
    assert elsewhere.get(tokens.session_id) is not None
    assert await deliver(app, CacheInvalidation(MemoryDashboardCache(60), elsewhere)) >= 1
    assert elsewhere.get(tokens.session_id) is None
    assert elsewhere.get(kept.session_id) is not None  # only the named session
    assert await changes(app) == []


async def test_the_apps_worker_delivers_the_event_to_the_principal_cache(
    app: FastAPI, client: AsyncClient
) -> None:
    await seed_demo(app)
    container = app.state.container
    names = [h.name for h in container.delivery.handlers_for("SessionsChanged")]
    assert names == ["cache.sessions"]
    tokens = await login_ok(client, RIVERSIDE_VET)
    assert (await me(client, tokens.access)).status_code == 200
    cached = principal(app, tokens)
    response = await client.post(f"{API}/auth/logout-all", headers=tokens.headers)
    assert response.status_code == 204, response.text
    # Put back, as a request racing the commit could have: the delivery forgets it again.
    container.principal_cache.put(cached)
    query = select(outbox_events.c.id).where(outbox_events.c.event_type == "SessionsChanged")
    async with container.engine.connect() as conn:
        (event_id,) = [row.id for row in await conn.execute(query)]
    await container.delivery.deliver(event_id)
    assert container.principal_cache.get(tokens.session_id) is None
    assert (await me(client, tokens.access)).status_code == 401


async def test_every_change_of_a_principal_records_its_sessions(
    app: FastAPI, client: AsyncClient
) -> None:
    users = await seed_demo(app)
    vet = str(users[RIVERSIDE_VET].id)
    admin = await login_ok(client, ADMIN)

    # Sign-out everywhere: every session of the user (the caller's included).
    a, b = await login_ok(client, RIVERSIDE_VET), await login_ok(client, RIVERSIDE_VET)
    assert (await client.post(f"{API}/auth/logout-all", headers=a.headers)).status_code == 204
    (change,) = await changes(app)
    assert (change["user_id"], change["reason"]) == (vet, "logout_all")
    assert sorted(change["session_ids"]) == sorted(ids(a, b))
    await deliver(
        app, CacheInvalidation(MemoryDashboardCache(60), TtlPrincipalCache(ttl_seconds=1))
    )

    # Revoking one session: that one.
    a, b = await login_ok(client, RIVERSIDE_VET), await login_ok(client, RIVERSIDE_VET)
    response = await client.delete(f"{API}/auth/sessions/{b.session_id}", headers=a.headers)
    assert response.status_code == 204, response.text
    assert await changes(app) == [
        {"user_id": vet, "session_ids": ids(b), "reason": "revoked_by_user"}
    ]
    await deliver(
        app, CacheInvalidation(MemoryDashboardCache(60), TtlPrincipalCache(ttl_seconds=1))
    )

    # A password change: the other sessions (this one goes on).
    c = await login_ok(client, RIVERSIDE_VET)
    body = {"current_password": DEMO_PASSWORD, "new_password": OTHER_STRONG_PASSWORD}
    response = await client.post(f"{API}/auth/password", json=body, headers=a.headers)
    assert response.status_code == 204, response.text
    assert await changes(app) == [
        {"user_id": vet, "session_ids": ids(c), "reason": "password_changed"}
    ]
    assert (await me(client, a.access)).status_code == 200
    assert (await me(client, c.access)).status_code == 401
    await deliver(
        app, CacheInvalidation(MemoryDashboardCache(60), TtlPrincipalCache(ttl_seconds=1))
    )

    # The name: the caller's session (its principal carries the name).
    response = await client.patch(
        f"{API}/users/me", json={"full_name": "Dr Renamed"}, headers=a.headers
    )
    assert response.status_code == 200, response.text
    assert await changes(app) == [
        {"user_id": vet, "session_ids": ids(a), "reason": "profile_updated"}
    ]
    me_now = await me(client, a.access)
    assert me_now.json()["full_name"] == "Dr Renamed"
    await deliver(
        app, CacheInvalidation(MemoryDashboardCache(60), TtlPrincipalCache(ttl_seconds=1))
    )

    # Deactivation by an admin: the user's sessions.
    response = await client.patch(
        f"{API}/users/{vet}", json={"is_active": False}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert await changes(app) == [{"user_id": vet, "session_ids": ids(a), "reason": "user_updated"}]
    assert (await me(client, a.access)).status_code == 401

    # Bad input changes nothing and records nothing.
    await deliver(
        app, CacheInvalidation(MemoryDashboardCache(60), TtlPrincipalCache(ttl_seconds=1))
    )
    response = await client.patch(
        f"{API}/users/{vet}", json={"is_active": "maybe"}, headers=admin.headers
    )
    assert response.status_code == 422, response.text
    assert await changes(app) == []
