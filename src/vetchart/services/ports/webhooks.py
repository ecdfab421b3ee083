"""Ports of the webhooks: the endpoints and deliveries (repository, in the unit of work)
and the sender that makes one signed HTTP try."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from vetchart.domain.webhooks import (
    AttemptResult,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from vetchart.services.ports.paging import Page, PageRequest


@dataclass(frozen=True)
class DeliveryTry:
    """What a try records on its delivery."""

    status: DeliveryStatus
    at: datetime
    result: AttemptResult


class WebhookRepository(Protocol):
    async def add(self, endpoint: WebhookEndpoint) -> None: ...

    async def get(self, endpoint_id: UUID) -> WebhookEndpoint | None: ...

    async def update(self, endpoint: WebhookEndpoint) -> None: ...

    async def page(self, practice_id: UUID, page: PageRequest) -> Page[WebhookEndpoint]:
        """The practice's endpoints, newest first."""
        ...

    async def subscribed(self, practice_id: UUID, event_type: str) -> list[WebhookEndpoint]:
        """The practice's active endpoints that take ``event_type``."""
        ...

    async def add_deliveries(self, deliveries: Sequence[WebhookDelivery]) -> list[UUID]:
        """Insert the deliveries that are new (one per endpoint and event); the ids of
        those inserted."""
        ...

    async def delivery(
        self, delivery_id: UUID, *, for_update: bool = False
    ) -> WebhookDelivery | None: ...

    async def record_try(self, delivery_id: UUID, outcome: DeliveryTry) -> None: ...

    async def reopen(self, delivery_id: UUID) -> None:
        """Back to ``pending`` for a resend (its tries so far stay counted)."""
        ...

    async def deliveries(
        self, endpoint_id: UUID, page: PageRequest, status: DeliveryStatus | None
    ) -> Page[WebhookDelivery]:
        """An endpoint's delivery log, newest first."""
        ...


@dataclass(frozen=True)
class SignedRequest:
    url: str
    body: bytes
    headers: Mapping[str, str]


class WebhookSender(Protocol):
    def sign(
        self, *, secret: str, message_id: str, timestamp: datetime, body: bytes, url: str
    ) -> SignedRequest:
        """The request a try sends: the body and the Standard Webhooks headers
        (webhook-id, webhook-timestamp, webhook-signature)."""
        ...

    async def send(self, request: SignedRequest) -> AttemptResult:
        """One POST, never following redirects, to an address the target may resolve to
        (``AttemptResult(allowed=False)`` otherwise); errors are returned, not raised."""
        ...
