"""The audit trail through the API: coverage of every route, the admins' search, a pet's
access log, denials, auth events, atomicity with the change, and tamper evidence."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.api.audit_checks import assert_audited, audit_rows, declared_actions
from tests.api.auth_helpers import (
    ADMIN,
    API,
    HILLCREST_MANAGER,
    HILLCREST_VET,
    OWNER,
    RIVERSIDE_MANAGER,
    RIVERSIDE_TECH,
    RIVERSIDE_VET,
    STRONG_PASSWORD,
    login,
    login_ok,
    refresh,
    unverified_claims,
)
from tests.fixtures.world import World, start
from vetchart.adapters.db.engine import async_url
from vetchart.adapters.db.tables import audit_events, medical_records, outbox_events
from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction, Audited
from vetchart.domain.policy import Principal
from vetchart.domain.records import RecordContent, RecordType
from vetchart.domain.users import Role

VETCHART = Path(sys.executable).parent / "vetchart"


# --------------------------------------------------------------------------- coverage


# Operations sent as POST that change nothing (so not audited as writes).
READS_BY_POST = frozenset({AuditAction.KB_QUERY})


async def test_every_route_declares_its_audit_action(app: FastAPI) -> None:
    """A new operation must say how it is audited (``@audited(...)`` beside its route)
    before it ships, and every action of the catalogue a route may declare is declared."""
    declared = declared_actions(app)
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert documented <= set(declared), "the walk of app.routes found every operation"
    undeclared = sorted(key for key, action in declared.items() if action is None)
    assert undeclared == [], "routes that declare no audit action"
    routed = {action for action in AuditAction if action.routed}
    assert set(declared.values()) == routed, "catalogue actions no route declares"
    for (method, path), route in declared.items():
        assert route is not None
        if method != "GET" and route.audited is not Audited.NONE and route not in READS_BY_POST:
            # Every write is audited on success (auth events by the auth service).
            assert route.audited in (Audited.WRITE, Audited.AUTH), (method, path)
        medical = "/medical-records" in path or path.endswith(("/timeline", "/follow-ups"))
        if medical and method == "GET":
            assert route.audited is Audited.MEDICAL_READ, path
        # Reads of client data (pets, owners, appointments, single or lists) leave a row on
        # success too (issue 13 item 7). The association lists are the associations'.
        client_data = path.startswith(
            (f"{API}/pets", f"{API}/pet-owners", f"{API}/appointments")
        ) or path.endswith("/appointments")
        if client_data and method == "GET" and not path.endswith("/associations"):
            assert route.audited in (Audited.READ, Audited.MEDICAL_READ), path


async def _pets_of(world: World, email: str) -> list[dict[str, Any]]:
    response = await world.client.get(f"{API}/pets?limit=50", headers=await world.h(email))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _new_record(world: World, pet_id: str, email: str = RIVERSIDE_VET) -> dict[str, Any]:
    visit = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    response = await world.client.post(
        f"{API}/pets/{pet_id}/medical-records",
        json={"record_type": "checkup", "title": "Audit check-up", "visit_date": visit},
        headers=await world.h(email),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _call(
    world: World, method: str, template: str, url: str, email: str, **kwargs: Any
) -> Any:
    headers = {**await world.h(email), **kwargs.pop("headers", {})}
    response = await world.client.request(method, f"{API}{url}", headers=headers, **kwargs)
    audit_world = _AuditWorld(world)
    await assert_audited(audit_world, method, f"{API}{template}", url, headers, response)
    return response


class _AuditWorld:
    """What assert_audited needs of a world: the app, users and their headers."""

    def __init__(self, world: World) -> None:
        self.app = world.app
        self.users = world.users
        self.headers = world.headers


async def test_users_endpoints_leave_their_rows(app: FastAPI, client: AsyncClient) -> None:
    """The write endpoints outside the scope matrix (users): success and denial rows."""
    world = await start(app, client)
    vet = world.users[RIVERSIDE_VET]
    tech = world.users[RIVERSIDE_TECH]
    response = await _call(
        world, "PATCH", "/users/me", "/users/me", RIVERSIDE_VET, json={"full_name": "Dr Audit"}
    )
    assert response.status_code == 200
    response = await _call(
        world,
        "PATCH",
        "/users/{user_id}",
        f"/users/{tech.id}",
        RIVERSIDE_MANAGER,
        json={"role": "VET"},
    )
    assert response.status_code == 200, response.text
    response = await _call(
        world, "POST", "/users/{user_id}/unlock", f"/users/{vet.id}/unlock", HILLCREST_MANAGER
    )
    assert response.status_code == 404
    response = await _call(
        world, "POST", "/users/{user_id}/unlock", f"/users/{vet.id}/unlock", RIVERSIDE_MANAGER
    )
    assert response.status_code == 204
    response = await _call(world, "GET", "/users", "/users", RIVERSIDE_VET)
    assert response.status_code == 403


async def test_auth_events_are_audited(app: FastAPI, client: AsyncClient) -> None:
    world = await start(app, client)
    vet = world.users[RIVERSIDE_VET]
    tokens = await login_ok(client, RIVERSIDE_VET)
    assert (await login(client, RIVERSIDE_VET, "wrong-password-0")).status_code == 401
    assert (await login(client, "nobody@example.com", "wrong-password-0")).status_code == 401
    renewed = await refresh(client, tokens.refresh)
    assert renewed.status_code == 200
    assert (await refresh(client, tokens.refresh)).status_code == 401  # reuse detected
    second = await login_ok(client, RIVERSIDE_VET)
    third = await login_ok(client, RIVERSIDE_VET)
    other = unverified_claims(third.access)["sid"]
    revoked = await client.delete(f"{API}/auth/sessions/{other}", headers=second.headers)
    assert revoked.status_code == 204, revoked.text
    changed = await client.post(
        f"{API}/auth/password",
        json={"current_password": "otter-lantern-meadow-river-42", "new_password": STRONG_PASSWORD},
        headers=second.headers,
    )
    assert changed.status_code in (200, 204), changed.text
    out = await client.post(f"{API}/auth/logout", headers=second.headers)
    assert out.status_code == 204, out.text

    async with app.state.container.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(audit_events.c.action, audit_events.c.outcome, audit_events.c.actor_id)
                .where(audit_events.c.action.like("auth.%"))
                .order_by(audit_events.c.chain, audit_events.c.seq)
            )
        ).all()
    seen = {(row.action, row.outcome) for row in rows}
    for expected in (
        ("auth.login", "success"),
        ("auth.login_failed", "denied"),
        ("auth.refresh", "success"),
        ("auth.refresh_reuse", "denied"),
        ("auth.session_revoke", "success"),
        ("auth.password_change", "success"),
        ("auth.logout", "success"),
    ):
        assert expected in seen, (expected, seen)
    failed = [row for row in rows if row.action == "auth.login_failed"]
    # The known account is named; the unknown one is not (and no password anywhere).
    assert {row.actor_id for row in failed} == {vet.id, None}
    async with app.state.container.engine.connect() as conn:
        dump = str((await conn.execute(select(audit_events.c.details))).all())
    assert "wrong-password-0" not in dump
    assert STRONG_PASSWORD not in dump


# --------------------------------------------------------------------------- the search


async def test_admins_search_the_audit_log_within_their_scope(
    app: FastAPI, client: AsyncClient
) -> None:
    world = await start(app, client, demo_clients=True)
    pet = (await _pets_of(world, OWNER))[0]
    record = await _new_record(world, pet["id"])
    hillcrest_pet = (await _pets_of(world, HILLCREST_VET))[0]
    await _new_record(world, hillcrest_pet["id"], HILLCREST_VET)
    read = await client.get(
        f"{API}/medical-records/{record['id']}", headers=await world.h(RIVERSIDE_TECH)
    )
    assert read.status_code == 200

    everything = await client.get(f"{API}/audit-events?limit=200", headers=await world.h(ADMIN))
    assert everything.status_code == 200, everything.text
    items = everything.json()["items"]
    assert {
        "id",
        "occurred_at",
        "actor_id",
        "actor_role",
        "practice_id",
        "action",
        "resource_type",
        "resource_id",
        "outcome",
        "request_id",
        "client_address",
        "user_agent",
        "details",
    } <= set(items[0])
    times = [(item["occurred_at"], item["id"]) for item in items]
    assert times == sorted(times, reverse=True), "newest first"
    practices = {item["practice_id"] for item in items}
    assert {str(world.riverside), str(world.hillcrest)} <= practices

    # A PRACTICE_ADMIN sees their practice's rows only, whatever the filters ask.
    own = await client.get(
        f"{API}/audit-events?limit=200&action=medical_record.create",
        headers=await world.h(RIVERSIDE_MANAGER),
    )
    assert own.status_code == 200
    rows = own.json()["items"]
    assert rows
    assert {row["practice_id"] for row in rows} == {str(world.riverside)}
    assert {row["action"] for row in rows} == {"medical_record.create"}

    # Filters: the reads of that record by the technician.
    tech = world.users[RIVERSIDE_TECH]
    found = await client.get(
        f"{API}/audit-events",
        params={
            "actor_id": str(tech.id),
            "resource_type": "medical_record",
            "resource_id": record["id"],
            "outcome": "success",
            "from": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
            "to": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
        },
        headers=await world.h(RIVERSIDE_MANAGER),
    )
    assert found.status_code == 200, found.text
    assert [row["action"] for row in found.json()["items"]] == ["medical_record.read"]
    assert found.json()["items"][0]["request_id"] == read.headers["x-request-id"]
    future = await client.get(
        f"{API}/audit-events",
        params={"from": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        headers=await world.h(ADMIN),
    )
    assert future.json()["items"] == []

    # Keyset paging walks every row once.
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
        page = await client.get(f"{API}/audit-events", params=params, headers=await world.h(ADMIN))
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert set(seen) >= {item["id"] for item in items}

    # Bad filters: 422, and a cursor of other filters is refused.
    for bad in ({"outcome": "maybe"}, {"from": "2026-01-01T00:00:00"}, {"actor_id": "x"}):
        response = await client.get(f"{API}/audit-events", params=bad, headers=await world.h(ADMIN))
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")

    # The searches themselves are on record.
    searches = await audit_rows(app, everything.headers["x-request-id"])
    assert [(r["action"], r["resource_type"]) for r in searches] == [("audit.read", "audit_event")]


async def test_staff_and_owners_cannot_search_the_audit_log(
    app: FastAPI, client: AsyncClient
) -> None:
    world = await start(app, client)
    for email in (OWNER, RIVERSIDE_VET, RIVERSIDE_TECH):
        response = await client.get(f"{API}/audit-events", headers=await world.h(email))
        assert response.status_code == 403, email
        [row] = await audit_rows(app, response.headers["x-request-id"])
        assert (row["action"], row["outcome"]) == ("audit.read", "denied")


# --------------------------------------------------------------------------- access log


async def test_a_pet_owner_sees_who_read_and_changed_their_pet(
    app: FastAPI, client: AsyncClient
) -> None:
    world = await start(app, client, demo_clients=True)
    pet = (await _pets_of(world, OWNER))[0]
    record = await _new_record(world, pet["id"])
    tech = world.users[RIVERSIDE_TECH]
    read = await client.get(
        f"{API}/medical-records/{record['id']}", headers=await world.h(RIVERSIDE_TECH)
    )
    assert read.status_code == 200
    # A refused look (another owner) is not a read of the pet's data.
    stranger = await world.new_pet_owner_user("stranger@example.com")
    refused = await client.get(
        f"{API}/medical-records/{record['id']}", headers=await world.h("stranger@example.com")
    )
    assert refused.status_code == 404

    log = await client.get(f"{API}/pets/{pet['id']}/access-log", headers=await world.h(OWNER))
    assert log.status_code == 200, log.text
    entries = log.json()["items"]
    assert entries[0] == {
        "occurred_at": entries[0]["occurred_at"],
        "actor_id": str(tech.id),
        "actor_name": tech.full_name,
        "actor_role": "VET_STAFF",
        "practice_id": str(world.riverside),
        "action": "medical_record.read",
        "resource_type": "medical_record",
        "resource_id": record["id"],
    }
    assert entries[1]["action"] == "medical_record.create"
    assert entries[1]["actor_id"] == str(world.users[RIVERSIDE_VET].id)
    assert str(stranger) not in {e["actor_id"] for e in entries}
    # Another pet owner's pet: not found; and that refusal is itself on record.
    other = await world.new_pet_owner_user("someone.else@example.com")
    response = await client.get(
        f"{API}/pets/{pet['id']}/access-log", headers=await world.h("someone.else@example.com")
    )
    assert response.status_code == 404
    [row] = await audit_rows(app, response.headers["x-request-id"])
    assert (row["actor_id"], row["outcome"]) == (other, "denied")


# --------------------------------------------------------------------------- atomicity


async def test_a_failed_commit_leaves_no_change_no_audit_row_no_outbox_event(
    app: FastAPI, client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail after every insert of the commit has run (change, outbox, job, audit rows):
    the transaction rolls back as one."""
    world = await start(app, client, demo_clients=True)
    pet = (await _pets_of(world, OWNER))[0]
    container = app.state.container

    async def counts() -> tuple[int, ...]:
        async with container.engine.connect() as conn:
            return (
                int(await conn.scalar(select(func.count()).select_from(medical_records)) or 0),
                int(await conn.scalar(select(func.count()).select_from(audit_events)) or 0),
                int(await conn.scalar(select(func.count()).select_from(outbox_events)) or 0),
                int(await conn.scalar(text("SELECT count(*) FROM procrastinate_jobs")) or 0),
            )

    from vetchart.adapters.db.audit import SqlAuditLog

    original = SqlAuditLog.flush

    async def flush_then_fail(self: SqlAuditLog, session: Any) -> None:
        await original(self, session)
        raise ConnectionResetError("lost the connection before COMMIT")

    headers = await world.h(RIVERSIDE_VET)  # signed in first: its login row is not counted
    before = await counts()
    monkeypatch.setattr(SqlAuditLog, "flush", flush_then_fail)
    with pytest.raises(ConnectionResetError):
        await container.records.create(
            Principal(
                user_id=world.users[RIVERSIDE_VET].id,
                role=Role.VET,
                practice_id=world.riverside,
                session_id=container.ids.new_id(),
                mfa_enabled=False,
            ),
            UUID(pet["id"]),
            RecordContent(
                record_type=RecordType.CHECKUP,
                title="Never",
                visit_date=datetime.now(UTC).date() - timedelta(days=1),
            ),
            RequestMeta(request_id="doomed"),
        )
    monkeypatch.setattr(SqlAuditLog, "flush", original)
    assert await counts() == before
    # The same use case without the fault writes all of it.
    visit = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    response = await client.post(
        f"{API}/pets/{pet['id']}/medical-records",
        json={"record_type": "checkup", "title": "Works", "visit_date": visit},
        headers=headers,
    )
    assert response.status_code == 201
    after = await counts()
    assert after[0] == before[0] + 1
    assert after[1] == before[1] + 1
    assert after[2] >= before[2] + 1  # MedicalRecordCreated in the outbox
    assert after[3] >= before[3] + 1


# --------------------------------------------------------------------------- tampering


def _verify(database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": str(VETCHART.parent),
        "DATABASE_URL": database_url,
        "VETCHART_ENV": "test",
        "VETCHART_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(  # noqa: S603 - our own console script
        [str(VETCHART), "audit", "verify"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _as_superuser(database_url: str, *statements: str) -> None:
    """Tampering needs the owner with triggers off: neither the app's role nor triggers
    allow it otherwise."""
    engine = create_async_engine(async_url(database_url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_audit_verify_names_the_tampered_row(
    app: FastAPI, client: AsyncClient, database_url: str, tmp_path: Path
) -> None:
    world = await start(app, client, demo_clients=True)
    for email in (RIVERSIDE_VET, RIVERSIDE_TECH, OWNER, ADMIN):
        await world.h(email)  # logins: rows on several chains
    clean = _verify(database_url, tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "ok" in clean.stdout

    async with app.state.container.engine.connect() as conn:
        victim = (
            await conn.execute(
                select(audit_events.c.id, audit_events.c.chain, audit_events.c.seq)
                .where(audit_events.c.action == "auth.login")
                .order_by(audit_events.c.occurred_at)
                .limit(1)
            )
        ).one()
    # One byte: the last character of the client address.
    await _as_superuser(
        database_url,
        "UPDATE audit_events SET client_address = "
        f"left(client_address, -1) || 'X' WHERE id = '{victim.id}'",
    )
    report = _verify(database_url, tmp_path)
    assert report.returncode == 1, report.stdout
    assert f"chain {victim.chain} at entry {victim.seq}" in report.stdout
    assert str(victim.id) in report.stdout
    assert "content does not match" in report.stdout


async def test_audit_verify_notices_a_removed_row(
    app: FastAPI, client: AsyncClient, database_url: str, tmp_path: Path
) -> None:
    world = await start(app, client)
    container = app.state.container
    actor = Principal(
        user_id=world.users[OWNER].id,
        role=Role.PET_OWNER,
        practice_id=None,
        session_id=container.ids.new_id(),
        mfa_enabled=False,
    )
    # 17 transactions over 16 chains: at least one chain has two entries.
    for n in range(17):
        await container.audit.denied(actor, RequestMeta(), AuditAction.PET_READ, str(n), {})
    async with app.state.container.engine.connect() as conn:
        chain = (
            await conn.execute(
                select(audit_events.c.chain, func.count().label("n"))
                .group_by(audit_events.c.chain)
                .order_by(func.count().desc())
                .limit(1)
            )
        ).one()
        first = (
            await conn.execute(
                select(audit_events.c.id).where(
                    audit_events.c.chain == chain.chain, audit_events.c.seq == 1
                )
            )
        ).scalar_one()
    await _as_superuser(database_url, f"DELETE FROM audit_events WHERE id = '{first}'")
    report = _verify(database_url, tmp_path)
    assert report.returncode == 1, report.stdout
    assert f"chain {chain.chain} at entry 1" in report.stdout
    assert "missing" in report.stdout
