"""Webhooks: a practice's endpoints (registered, changed, their secret rotated, their
delivery log read and a delivery sent again by its PRACTICE_ADMIN or a SYSTEM_ADMIN), and
the delivery of its events to them.

Delivery: the outbox hands every published event to one handler (``webhooks.fanout``),
which adds one delivery per subscribed active endpoint (once: a unique key per endpoint
and event) and queues one job per delivery, all in the handler's claim transaction. The
job (``vetchart.deliver_webhook``) makes one signed try outside any transaction and
records it; a failed try is retried by the job queue with exponential back-off, and the
last failed try leaves the delivery ``dead`` (dead-lettered: kept, visible in the log,
re-sendable). A try may reach the receiver twice (a worker lost after the POST): the
``webhook-id`` header, the same for every try of a delivery, lets receivers drop repeats.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, replace
from uuid import UUID

import structlog

from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import Conflict
from vetchart.domain.policy import Action, Principal
from vetchart.domain.webhooks import (
    PUBLISHED_EVENTS,
    SECRET_BYTES,
    SECRET_PREFIX,
    AttemptResult,
    DeliveryStatus,
    NewWebhook,
    WebhookChanges,
    WebhookDelivery,
    WebhookEndpoint,
    check_target_url,
    status_after,
    webhook_body,
)
from vetchart.services.audit import record as audit
from vetchart.services.audit import save_changes
from vetchart.services.base import (
    practice_for,
    practice_to_configure,
    require_configuration,
)
from vetchart.services.jobs import DELIVER_WEBHOOK, EventHandler
from vetchart.services.ports.outbox import OutboxMessage
from vetchart.services.ports.paging import Page, PageRequest
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from vetchart.services.ports.webhooks import DeliveryTry, WebhookSender

log = structlog.get_logger(__name__)

FANOUT_HANDLER = "webhooks.fanout"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@dataclass(frozen=True)
class WebhookPolicy:
    """The settings the rules need: whether private/loopback targets (and plain http)
    are allowed, and how many tries a sending of a delivery gets."""

    allow_private_targets: bool
    max_tries: int


class WebhookService:
    def __init__(
        self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator, policy: WebhookPolicy
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._policy = policy

    async def register(
        self, actor: Principal, practice_id: UUID, command: NewWebhook, meta: RequestMeta
    ) -> WebhookEndpoint:
        """A new endpoint; its secret is in the answer this once (and rotated, never
        shown again)."""
        async with self._uow() as uow:
            await practice_to_configure(uow, actor, Action.WEBHOOK_MANAGE, practice_id)
            url = check_target_url(command.url, allow_private=self._policy.allow_private_targets)
            now = self._clock.now()
            endpoint = WebhookEndpoint(
                id=self._ids.new_id(),
                practice_id=practice_id,
                url=url,
                event_types=command.event_types,
                description=command.description,
                is_active=True,
                secret=new_secret(),
                created_by=actor.user_id,
                created_at=now,
                updated_at=now,
            )
            await uow.webhooks.add(endpoint)
            details = {"url": url, "event_types": list(endpoint.event_types)}
            audit(uow, meta, actor, AuditAction.WEBHOOK_CREATE, endpoint.id, practice_id, details)
            await uow.commit()
        return endpoint

    async def list(
        self, actor: Principal, practice_id: UUID, page: PageRequest
    ) -> Page[WebhookEndpoint]:
        async with self._uow() as uow:
            await practice_for(uow, actor, Action.WEBHOOK_MANAGE, practice_id)
            return await uow.webhooks.page(practice_id, page)

    async def get(self, actor: Principal, webhook_id: UUID) -> WebhookEndpoint:
        async with self._uow() as uow:
            return await self._endpoint(uow, actor, webhook_id)

    async def update(
        self, actor: Principal, webhook_id: UUID, changes: WebhookChanges, meta: RequestMeta
    ) -> WebhookEndpoint:
        values = changes.values()
        async with self._uow() as uow:
            endpoint = await self._endpoint(uow, actor, webhook_id)
            if isinstance(url := values.get("url"), str):  # checked once the caller may
                values["url"] = check_target_url(
                    url, allow_private=self._policy.allow_private_targets
                )
            return await save_changes(
                uow,
                meta,
                actor,
                AuditAction.WEBHOOK_UPDATE,
                endpoint,
                values,
                now=self._clock.now,
                save=uow.webhooks.update,
                practice_id=endpoint.practice_id,
            )

    async def rotate_secret(
        self, actor: Principal, webhook_id: UUID, meta: RequestMeta
    ) -> WebhookEndpoint:
        """A new secret at once (the old one stops signing; receivers take the new one
        from this answer)."""
        async with self._uow() as uow:
            endpoint = await self._endpoint(uow, actor, webhook_id)
            endpoint = replace(endpoint, secret=new_secret(), updated_at=self._clock.now())
            await uow.webhooks.update(endpoint)
            audit(
                uow,
                meta,
                actor,
                AuditAction.WEBHOOK_ROTATE_SECRET,
                endpoint.id,
                endpoint.practice_id,
            )
            await uow.commit()
        return endpoint

    async def deliveries(
        self,
        actor: Principal,
        webhook_id: UUID,
        page: PageRequest,
        status: DeliveryStatus | None = None,
    ) -> Page[WebhookDelivery]:
        async with self._uow() as uow:
            await self._endpoint(uow, actor, webhook_id)
            return await uow.webhooks.deliveries(webhook_id, page, status)

    async def resend(
        self, actor: Principal, delivery_id: UUID, meta: RequestMeta
    ) -> WebhookDelivery:
        """Queue a delivery again (a dead one, or one that succeeded and is wanted
        again): a new sending with the full number of tries; 409 while one is queued."""
        async with self._uow() as uow:
            delivery = await uow.webhooks.delivery(delivery_id, for_update=True)
            endpoint = None if delivery is None else await uow.webhooks.get(delivery.endpoint_id)
            found = None if delivery is None or endpoint is None else endpoint.practice_id
            require_configuration(actor, Action.WEBHOOK_MANAGE, "Webhook delivery", found)
            assert delivery is not None
            assert endpoint is not None
            if delivery.status is DeliveryStatus.PENDING:
                raise Conflict(
                    "This delivery is queued already; it is sent again only once it ends.",
                    code="delivery-pending",
                )
            if not endpoint.is_active:
                raise Conflict(
                    "The endpoint is disabled; enable it before sending again.",
                    code="webhook-disabled",
                )
            await uow.webhooks.reopen(delivery_id)
            uow.jobs.defer(DELIVER_WEBHOOK, {"delivery_id": str(delivery_id)})
            audit(
                uow,
                meta,
                actor,
                AuditAction.WEBHOOK_DELIVERY_RESEND,
                delivery_id,
                endpoint.practice_id,
                {"webhook_id": str(endpoint.id), "status_before": delivery.status.value},
            )
            await uow.commit()
        return replace(delivery, status=DeliveryStatus.PENDING, delivered_at=None)

    async def _endpoint(
        self, uow: UnitOfWork, actor: Principal, webhook_id: UUID
    ) -> WebhookEndpoint:
        endpoint = await uow.webhooks.get(webhook_id)
        found = None if endpoint is None else endpoint.practice_id
        require_configuration(actor, Action.WEBHOOK_MANAGE, "Webhook", found)
        assert endpoint is not None
        return endpoint


class WebhookDispatcher:
    """The worker's side: fan an event out to deliveries, and make one try of one."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        sender: WebhookSender,
        max_tries: int,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._sender = sender
        self._max_tries = max_tries

    def handler(self) -> EventHandler:
        return EventHandler(FANOUT_HANDLER, frozenset(PUBLISHED_EVENTS), self.fan_out)

    async def fan_out(self, uow: UnitOfWork, message: OutboxMessage) -> None:
        """Inside the handler's claim: one delivery and one job per subscribed endpoint."""
        event_type = PUBLISHED_EVENTS[message.event_type]
        practice_id = UUID(str(message.payload["practice_id"]))
        endpoints = await uow.webhooks.subscribed(practice_id, event_type)
        now = self._clock.now()
        body = webhook_body(event_type, message.occurred_at, dict(message.payload))
        added = await uow.webhooks.add_deliveries(
            [
                WebhookDelivery(
                    id=self._ids.new_id(),
                    endpoint_id=endpoint.id,
                    practice_id=practice_id,
                    event_id=message.id,
                    event_type=event_type,
                    payload=body,
                    status=DeliveryStatus.PENDING,
                    attempts=0,
                    last_attempt_at=None,
                    last_status_code=None,
                    last_error=None,
                    created_at=now,
                    delivered_at=None,
                )
                for endpoint in endpoints
            ]
        )
        for delivery_id in added:
            uow.jobs.defer(DELIVER_WEBHOOK, {"delivery_id": str(delivery_id)})

    async def attempt(self, delivery_id: UUID, *, try_number: int) -> DeliveryStatus | None:
        """One try (``try_number`` of this sending, 1-based); the delivery's status after
        it, or None when there was nothing to send (gone, or no longer pending)."""
        async with self._uow() as uow:
            delivery = await uow.webhooks.delivery(delivery_id)
            endpoint = None if delivery is None else await uow.webhooks.get(delivery.endpoint_id)
        if delivery is None or endpoint is None or delivery.status is not DeliveryStatus.PENDING:
            return None
        now = self._clock.now()
        if not endpoint.is_active:
            outcome = DeliveryTry(
                DeliveryStatus.DEAD, now, AttemptResult(error="the endpoint is disabled")
            )
        else:
            body = json.dumps(delivery.payload, separators=(",", ":")).encode()
            request = self._sender.sign(
                secret=endpoint.secret,
                message_id=str(delivery.id),
                timestamp=now,
                body=body,
                url=endpoint.url,
            )
            try:
                result = await self._sender.send(request)
            except Exception as error:  # a bug must not leave the delivery pending forever
                log.exception("webhook.send_crashed", delivery_id=str(delivery_id))
                result = AttemptResult(error=f"internal error: {type(error).__name__}")
            status = status_after(result, try_number=try_number, max_tries=self._max_tries)
            outcome = DeliveryTry(status, self._clock.now(), result)
        async with self._uow() as uow:
            await uow.webhooks.record_try(delivery_id, outcome)
            await uow.commit()
        return outcome.status
