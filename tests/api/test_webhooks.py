"""Webhooks through the API on PostgreSQL, with a real receiver on 127.0.0.1.

Registration, reads, changes and secret rotation (audited; the secret only in the
create/rotate answers, sealed at rest); bad targets refused with 422 and nothing stored;
an event delivered through the outbox, fanned out once, signed and verified by the
receiver with the Standard Webhooks library; failures retried to ``dead``, resent; the
SSRF check at delivery time; the procrastinate task's retry decision.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import func, select, text
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.api.auth_helpers import ADMIN, RIVERSIDE_MANAGER, RIVERSIDE_VET, audit_rows
from tests.api.sql_counter import count_statements
from tests.conftest import make_settings
from tests.fixtures.world import World, start
from vetchart.adapters.db.tables import webhook_deliveries, webhook_endpoints
from vetchart.adapters.jobs import WebhookTryFailed
from vetchart.adapters.webhooks import HttpWebhookSender
from vetchart.config import RateLimitSettings, Settings, WebhookSettings
from vetchart.domain.owners import AssociationStatus
from vetchart.domain.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from vetchart.services.jobs import DELIVER_WEBHOOK
from vetchart.services.ports.outbox import OutboxMessage
from vetchart.services.ports.webhooks import SignedRequest
from vetchart.services.webhooks import WebhookDispatcher, new_secret

API = "/api/v1"
MAX_TRIES = 3


# --------------------------------------------------------------------------- the receiver


class Receiver:
    """An HTTP server on 127.0.0.1 that records each request and answers ``status``."""

    def __init__(self) -> None:
        self.status = 204
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/vetchart"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


@pytest.fixture
def allow_private() -> bool:
    return True


@pytest.fixture
def settings(database_url: str, allow_private: bool) -> Settings:
    return make_settings(
        database_url,
        webhooks=WebhookSettings(
            allow_private_targets=allow_private,
            max_tries=MAX_TRIES,
            retry_base_seconds=2,
            timeout_seconds=5,
        ),
        rate_limit=RateLimitSettings(enabled=False),
    )


@pytest.fixture
async def world(app: FastAPI, client: AsyncClient) -> World:
    w = await start(app, client)
    await w.sign_in(RIVERSIDE_MANAGER, RIVERSIDE_VET, ADMIN)
    return w


# --------------------------------------------------------------------------- helpers


async def register(world: World, url: str, types: list[str], email: str = RIVERSIDE_MANAGER) -> Any:
    return await world.client.post(
        f"{API}/practices/{world.riverside}/webhooks",
        json={"url": url, "event_types": types, "description": "Practice system"},
        headers=world.headers[email],
    )


async def scalar(world: World, query: Any) -> Any:
    async with world.container.engine.connect() as conn:
        return (await conn.execute(query)).scalar_one()


async def delivery_row(world: World, delivery_id: UUID | str) -> dict[str, Any]:
    query = select(webhook_deliveries).where(webhook_deliveries.c.id == UUID(str(delivery_id)))
    async with world.container.engine.connect() as conn:
        return dict((await conn.execute(query)).mappings().one())


async def queued_jobs(world: World, delivery_id: UUID | str) -> int:
    query = text(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :task "
        "AND args->>'delivery_id' = :id"
    )
    async with world.container.engine.connect() as conn:
        result = await conn.execute(query, {"task": DELIVER_WEBHOOK, "id": str(delivery_id)})
        return int(result.scalar_one())


async def amended_record(world: World) -> str:
    """A record of a Riverside client's pet, made and amended through the API (two
    events in the outbox: created, amended); its id."""
    owner = await world.add_owner("Webhook Client", {world.riverside: AssociationStatus.APPROVED})
    pet = await world.add_pet(owner, "Hookie")
    record = await world.create_medical_record(RIVERSIDE_VET, pet.id)
    response = await world.client.patch(
        f"{API}/medical-records/{record['id']}",
        json={"title": "Check-up (amended)"},
        headers={**world.headers[RIVERSIDE_VET], "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    return str(record["id"])


async def one_delivery(world: World, webhook_id: str) -> dict[str, Any]:
    response = await world.client.get(
        f"{API}/webhooks/{webhook_id}/deliveries", headers=world.headers[RIVERSIDE_MANAGER]
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == 1, items
    return dict(items[0])


async def stored_delivery(world: World, url: str) -> UUID:
    """An endpoint stored through the repository (no registration check) and a pending
    delivery to it."""
    now = world.now()
    endpoint = WebhookEndpoint(
        id=world.new_id(),
        practice_id=world.riverside,
        url=url,
        event_types=("appointment.changed",),
        description=None,
        is_active=True,
        secret=new_secret(),
        created_by=world.users[ADMIN].id,
        created_at=now,
        updated_at=now,
    )
    delivery = WebhookDelivery(
        id=world.new_id(),
        endpoint_id=endpoint.id,
        practice_id=world.riverside,
        event_id=world.new_id(),
        event_type="appointment.changed",
        payload={"type": "appointment.changed", "timestamp": now.isoformat(), "data": {}},
        status=DeliveryStatus.PENDING,
        attempts=0,
        last_attempt_at=None,
        last_status_code=None,
        last_error=None,
        created_at=now,
        delivered_at=None,
    )
    async with world.container.uow() as uow:
        await uow.webhooks.add(endpoint)
        await uow.webhooks.add_deliveries([delivery])
        await uow.commit()
    return delivery.id


# --------------------------------------------------------------------------- endpoints


async def test_register_list_read_update_rotate(world: World) -> None:
    headers = world.headers[RIVERSIDE_MANAGER]
    created = await register(
        world, "https://hooks.example.com/in", ["visit.changed", "appointment.changed"]
    )
    assert created.status_code == 201, created.text
    body = created.json()
    webhook_id = body["id"]
    assert created.headers["location"] == f"/api/v1/webhooks/{webhook_id}"
    assert set(body) == {
        "id",
        "practice_id",
        "url",
        "event_types",
        "description",
        "is_active",
        "created_at",
        "updated_at",
        "secret",
    }
    assert body["practice_id"] == str(world.riverside)
    assert body["event_types"] == ["appointment.changed", "visit.changed"]  # sorted, once
    assert body["is_active"] is True
    secret = body["secret"]
    assert secret.startswith("whsec_")
    # Sealed at rest: the stored column is not the secret.
    sealed = await scalar(
        world,
        select(webhook_endpoints.c.secret_sealed).where(webhook_endpoints.c.id == UUID(webhook_id)),
    )
    assert secret not in sealed
    [row] = await audit_rows(world.app, "webhook.create")
    assert row["outcome"] == "success"
    assert str(row["resource_id"]) == webhook_id
    assert row["actor_id"] == world.users[RIVERSIDE_MANAGER].id
    assert secret not in json.dumps(row["details"], default=str)

    listed = await world.client.get(f"{API}/practices/{world.riverside}/webhooks", headers=headers)
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert item["id"] == webhook_id
    assert "secret" not in item
    read = await world.client.get(f"{API}/webhooks/{webhook_id}", headers=headers)
    assert read.status_code == 200
    assert "secret" not in read.json()
    assert secret not in read.text
    assert secret not in listed.text

    changed = await world.client.patch(
        f"{API}/webhooks/{webhook_id}",
        json={"description": "New system", "is_active": False, "event_types": ["visit.changed"]},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["description"] == "New system"
    assert changed.json()["is_active"] is False
    assert changed.json()["event_types"] == ["visit.changed"]
    assert "secret" not in changed.json()
    [update] = await audit_rows(world.app, "webhook.update")
    assert update["details"]["fields"] == ["description", "event_types", "is_active"]

    rotated = await world.client.post(f"{API}/webhooks/{webhook_id}/rotate-secret", headers=headers)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_")
    assert new != secret
    assert len(await audit_rows(world.app, "webhook.rotate_secret")) == 1
    async with world.container.uow() as uow:
        stored = await uow.webhooks.get(UUID(webhook_id))
    assert stored is not None
    assert stored.secret == new


async def test_list_pages_with_a_cursor_in_constant_statements(world: World) -> None:
    headers = world.headers[ADMIN]
    for n in range(5):
        response = await register(
            world, f"https://hooks{n}.example.com/in", ["visit.changed"], ADMIN
        )
        assert response.status_code == 201
    seen: list[str] = []
    counts: list[int] = []
    url = f"{API}/practices/{world.riverside}/webhooks?limit=2"
    for _ in range(5):
        with count_statements(world.app) as counter:
            page = await world.client.get(url, headers=headers)
        assert page.status_code == 200
        counts.append(counter.count)
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        url = f"{API}/practices/{world.riverside}/webhooks?limit=2&cursor={cursor}"
    assert len(seen) == len(set(seen)) == 5
    assert max(counts) == min(counts), counts


BAD_BODIES = {
    "unknown_type": {"url": "https://hooks.example.com/in", "event_types": ["pet.deleted"]},
    "no_types": {"url": "https://hooks.example.com/in", "event_types": []},
    "no_url": {"event_types": ["visit.changed"]},
    "plain_http": {"url": "http://hooks.example.com/in", "event_types": ["visit.changed"]},
    "ftp": {"url": "ftp://hooks.example.com/in", "event_types": ["visit.changed"]},
    "loopback": {"url": "https://127.0.0.1/in", "event_types": ["visit.changed"]},
    "loopback_short": {"url": "https://127.1/in", "event_types": ["visit.changed"]},
    "loopback_decimal": {"url": "https://2130706433/in", "event_types": ["visit.changed"]},
    "private_10": {"url": "https://10.1.2.3/in", "event_types": ["visit.changed"]},
    "private_192": {"url": "https://192.168.0.10/in", "event_types": ["visit.changed"]},
    "link_local": {"url": "https://169.254.169.254/latest", "event_types": ["visit.changed"]},
    "ipv6_loopback": {"url": "https://[::1]/in", "event_types": ["visit.changed"]},
    "ipv4_mapped": {"url": "https://[::ffff:127.0.0.1]/in", "event_types": ["visit.changed"]},
    "unspecified": {"url": "https://0.0.0.0/in", "event_types": ["visit.changed"]},
    "localhost": {"url": "https://localhost:8443/in", "event_types": ["visit.changed"]},
    "sub_localhost": {"url": "https://api.localhost/in", "event_types": ["visit.changed"]},
    "credentials": {"url": "https://u:p@hooks.example.com/in", "event_types": ["visit.changed"]},
    "unknown_field": {
        "url": "https://hooks.example.com/in",
        "event_types": ["visit.changed"],
        "secret": "whsec_mine",
    },
}


@pytest.mark.parametrize("allow_private", [False])
@pytest.mark.parametrize("name", sorted(BAD_BODIES))
async def test_bad_registrations_are_refused_and_store_nothing(world: World, name: str) -> None:
    response = await world.client.post(
        f"{API}/practices/{world.riverside}/webhooks",
        json=BAD_BODIES[name],
        headers=world.headers[RIVERSIDE_MANAGER],
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await scalar(world, select(func.count()).select_from(webhook_endpoints)) == 0
    assert await audit_rows(world.app, "webhook.create") == []


@pytest.mark.parametrize("allow_private", [False])
async def test_bad_changes_are_refused_and_change_nothing(world: World) -> None:
    created = await register(world, "https://hooks.example.com/in", ["visit.changed"])
    webhook_id = created.json()["id"]
    for body in (
        {"url": "https://10.0.0.1/in"},
        {"url": None},
        {"event_types": ["nope"]},
        {"event_types": []},
        {"is_active": None},
    ):
        response = await world.client.patch(
            f"{API}/webhooks/{webhook_id}", json=body, headers=world.headers[RIVERSIDE_MANAGER]
        )
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    read = await world.client.get(
        f"{API}/webhooks/{webhook_id}", headers=world.headers[RIVERSIDE_MANAGER]
    )
    assert read.json() == {k: v for k, v in created.json().items() if k != "secret"}
    assert await audit_rows(world.app, "webhook.update") == []


async def test_status_filter_must_be_known(world: World) -> None:
    created = await register(world, "https://hooks.example.com/in", ["visit.changed"])
    response = await world.client.get(
        f"{API}/webhooks/{created.json()['id']}/deliveries?status=lost",
        headers=world.headers[RIVERSIDE_MANAGER],
    )
    assert response.status_code == 422


# --------------------------------------------------------------------------- delivery


async def test_an_amendment_reaches_the_receiver_signed(world: World, receiver: Receiver) -> None:
    created = await register(world, receiver.url, ["medical_record.amended"])
    assert created.status_code == 201, created.text
    webhook_id, secret = created.json()["id"], created.json()["secret"]
    record_id = await amended_record(world)
    assert await world.deliver_events() >= 2  # created (not subscribed) and amended

    delivery = await one_delivery(world, webhook_id)
    assert delivery["status"] == "pending"
    assert delivery["attempts"] == 0
    assert delivery["event_type"] == "medical_record.amended"
    assert await queued_jobs(world, delivery["id"]) == 1

    # The fan-out again, for the same event (a redelivery of the outbox): no second row.
    event_id = UUID(delivery["event_id"])
    row = await _outbox_row(world, event_id)
    async with world.container.uow() as uow:
        await world.container.webhook_dispatcher.fan_out(uow, row)
        await uow.commit()
    assert await scalar(world, select(func.count()).select_from(webhook_deliveries)) == 1
    assert await queued_jobs(world, delivery["id"]) == 1

    status = await world.container.webhook_dispatcher.attempt(UUID(delivery["id"]), try_number=1)
    assert status is DeliveryStatus.SUCCEEDED
    [(headers, body)] = receiver.requests
    assert headers["webhook-id"] == delivery["id"]
    assert headers["content-type"] == "application/json"
    assert headers["host"] == f"127.0.0.1:{receiver.port}"
    payload = Webhook(secret).verify(body, headers)  # the receiver's check
    assert payload["type"] == "medical_record.amended"
    assert payload["data"]["record_id"] == record_id
    assert payload["data"]["practice_id"] == str(world.riverside)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)

    done = await one_delivery(world, webhook_id)
    assert done["status"] == "succeeded"
    assert done["attempts"] == 1
    assert done["last_status_code"] == 204
    assert done["delivered_at"] is not None
    # A job run again after success sends nothing.
    assert (
        await world.container.webhook_dispatcher.attempt(UUID(delivery["id"]), try_number=2) is None
    )
    assert len(receiver.requests) == 1


async def _outbox_row(world: World, event_id: UUID) -> OutboxMessage:
    async with world.container.uow() as uow:
        message = await uow.outbox.get(event_id)
    assert message is not None
    return message


async def test_disabled_or_unsubscribed_endpoints_get_nothing(
    world: World, receiver: Receiver
) -> None:
    off = await register(world, receiver.url, ["medical_record.amended"])
    await world.client.patch(
        f"{API}/webhooks/{off.json()['id']}",
        json={"is_active": False},
        headers=world.headers[RIVERSIDE_MANAGER],
    )
    await register(world, receiver.url, ["appointment.changed"])
    await amended_record(world)
    await world.deliver_events()
    assert await scalar(world, select(func.count()).select_from(webhook_deliveries)) == 0


async def test_failures_retry_then_dead_then_resend(world: World, receiver: Receiver) -> None:
    receiver.status = 500
    created = await register(world, receiver.url, ["medical_record.amended"])
    webhook_id = created.json()["id"]
    await amended_record(world)
    await world.deliver_events()
    delivery_id = UUID((await one_delivery(world, webhook_id))["id"])
    dispatcher = world.container.webhook_dispatcher
    headers = world.headers[RIVERSIDE_MANAGER]

    assert await dispatcher.attempt(delivery_id, try_number=1) is DeliveryStatus.PENDING
    first = await one_delivery(world, webhook_id)
    assert (first["status"], first["attempts"], first["last_status_code"]) == ("pending", 1, 500)
    # Pending: no resend.
    refused = await world.client.post(
        f"{API}/webhook-deliveries/{delivery_id}/resend", headers=headers
    )
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert await queued_jobs(world, delivery_id) == 1

    assert await dispatcher.attempt(delivery_id, try_number=2) is DeliveryStatus.PENDING
    assert await dispatcher.attempt(delivery_id, try_number=MAX_TRIES) is DeliveryStatus.DEAD
    dead = await one_delivery(world, webhook_id)
    assert (dead["status"], dead["attempts"]) == ("dead", MAX_TRIES)
    assert len(receiver.requests) == MAX_TRIES
    # Every try of a delivery carries the same webhook-id (receivers dedupe on it).
    assert {h["webhook-id"] for h, _ in receiver.requests} == {str(delivery_id)}
    filtered = await world.client.get(
        f"{API}/webhooks/{webhook_id}/deliveries?status=dead", headers=headers
    )
    assert [d["id"] for d in filtered.json()["items"]] == [str(delivery_id)]
    pending = await world.client.get(
        f"{API}/webhooks/{webhook_id}/deliveries?status=pending", headers=headers
    )
    assert pending.json()["items"] == []

    receiver.status = 200
    resent = await world.client.post(
        f"{API}/webhook-deliveries/{delivery_id}/resend", headers=headers
    )
    assert resent.status_code == 202, resent.text
    assert resent.json()["status"] == "pending"
    assert resent.json()["id"] == str(delivery_id)
    assert await queued_jobs(world, delivery_id) == 2
    [row] = await audit_rows(world.app, "webhook_delivery.resend")
    assert row["outcome"] == "success"
    assert str(row["resource_id"]) == str(delivery_id)
    assert (await delivery_row(world, delivery_id))["status"] == "pending"

    assert await dispatcher.attempt(delivery_id, try_number=1) is DeliveryStatus.SUCCEEDED
    done = await delivery_row(world, delivery_id)
    assert done["status"] == "succeeded"
    assert done["attempts"] == MAX_TRIES + 1
    assert done["delivered_at"] is not None


@pytest.mark.parametrize("allow_private", [False])
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_a_private_target_is_refused_at_delivery(
    world: World, receiver: Receiver, host: str
) -> None:
    """Registration would refuse it; stored directly (as if DNS changed after), the
    try resolves the name, refuses the address and sends nothing."""
    delivery_id = await stored_delivery(world, f"http://{host}:{receiver.port}/hooks")
    status = await world.container.webhook_dispatcher.attempt(delivery_id, try_number=1)
    assert status is DeliveryStatus.DEAD
    row = await delivery_row(world, delivery_id)
    assert row["status"] == "dead"
    assert row["attempts"] == 1
    assert row["last_status_code"] is None
    assert "may not reach" in row["last_error"]
    assert receiver.requests == []


async def test_the_task_retries_while_tries_remain(world: World, receiver: Receiver) -> None:
    receiver.status = 503
    delivery_id = await stored_delivery(world, receiver.url)
    task = world.container.worker.job_app().tasks[DELIVER_WEBHOOK]
    strategy = task.retry_strategy
    for attempts in range(MAX_TRIES - 1):  # procrastinate's count of earlier runs
        context = SimpleNamespace(job=SimpleNamespace(attempts=attempts))
        with pytest.raises(WebhookTryFailed):
            await task.func(context, delivery_id=str(delivery_id))
        decision = strategy.get_retry_decision(
            exception=WebhookTryFailed(), job=SimpleNamespace(attempts=attempts)
        )
        assert decision is not None
    last = SimpleNamespace(job=SimpleNamespace(attempts=MAX_TRIES - 1))
    await task.func(last, delivery_id=str(delivery_id))  # the last try: dead, no raise
    assert (await delivery_row(world, delivery_id))["status"] == "dead"
    assert (
        strategy.get_retry_decision(
            exception=WebhookTryFailed(), job=SimpleNamespace(attempts=MAX_TRIES - 1)
        )
        is None
    )
    assert len(receiver.requests) == MAX_TRIES


async def test_the_sender_pins_the_address_and_keeps_the_name(receiver: Receiver) -> None:
    """A name is resolved, the connection goes to a checked address (the first that
    answers: localhost may resolve to ::1 first, where nothing listens), and the Host
    header still names the host; an unreachable port is an error, not an exception."""
    sender = HttpWebhookSender(timeout_seconds=5, allow_private=True)
    try:
        request = sender.sign(
            secret=new_secret(),
            message_id="msg_pinned",
            timestamp=datetime.now(UTC),
            body=b'{"type":"visit.changed"}',
            url=f"http://localhost:{receiver.port}/in?x=1",
        )
        result = await sender.send(request)
        [(headers, body)] = receiver.requests
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        unreachable = await sender.send(
            sender.sign(
                secret=new_secret(),
                message_id="msg_closed",
                timestamp=datetime.now(UTC),
                body=b"{}",
                url=f"http://127.0.0.1:{port}/in",
            )
        )
    finally:
        await sender.aclose()
    assert result.status_code == 204
    assert headers["host"] == f"localhost:{receiver.port}"
    assert body == b'{"type":"visit.changed"}'
    assert unreachable.status_code is None
    assert unreachable.error is not None
    assert unreachable.error.startswith("ConnectError")
    assert len(receiver.requests) == 1


class CrashingSender:
    """A sender with a bug: signing works, sending raises."""

    def sign(self, *, secret: str, message_id: str, timestamp: Any, body: bytes, url: str) -> Any:
        return SignedRequest(url=url, body=body, headers={})

    async def send(self, request: SignedRequest) -> Any:
        raise RuntimeError("a bug")


async def test_a_crashing_try_counts_as_a_failure(world: World) -> None:
    """An exception in sending is recorded as a failed try (retried, then dead and
    re-sendable), never a delivery left pending for ever."""
    delivery_id = await stored_delivery(world, "https://hooks.example.com/in")
    container = world.container
    dispatcher = WebhookDispatcher(
        uow=container.uow,
        clock=container.clock,
        ids=container.ids,
        sender=CrashingSender(),
        max_tries=MAX_TRIES,
    )
    assert await dispatcher.attempt(delivery_id, try_number=1) is DeliveryStatus.PENDING
    row = await delivery_row(world, delivery_id)
    assert row["last_error"] == "internal error: RuntimeError"
    assert await dispatcher.attempt(delivery_id, try_number=MAX_TRIES) is DeliveryStatus.DEAD
