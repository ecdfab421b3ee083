"""The webhooks' repository: endpoints (their secret sealed at rest) and deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from vetchart.adapters.db.queries import newest_first
from vetchart.adapters.db.rows import EntityRows, columns_of
from vetchart.adapters.db.tables import webhook_deliveries, webhook_endpoints
from vetchart.domain.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from vetchart.services.ports.paging import Page, PageRequest
from vetchart.services.ports.system import SecretBox
from vetchart.services.ports.webhooks import DeliveryTry

_ENDPOINTS = EntityRows(
    WebhookEndpoint,
    [*columns_of(webhook_endpoints, without=["secret_sealed"]), "secret"],
    read={"event_types": tuple},
    write={"event_types": list},
)
_DELIVERIES = EntityRows(
    WebhookDelivery, columns_of(webhook_deliveries), enums={"status": DeliveryStatus}
)


class SqlWebhookRepository:
    def __init__(self, session: AsyncSession, secret_box: SecretBox) -> None:
        self._session = session
        self._box = secret_box

    def _row(self, endpoint: WebhookEndpoint) -> dict[str, Any]:
        values = _ENDPOINTS.values(endpoint)
        values["secret_sealed"] = self._box.seal(values.pop("secret"))
        return values

    def _endpoint(self, row: Any) -> WebhookEndpoint:
        return _ENDPOINTS.entity({**row, "secret": self._box.open(row["secret_sealed"])})

    async def add(self, endpoint: WebhookEndpoint) -> None:
        await self._session.execute(insert(webhook_endpoints).values(**self._row(endpoint)))

    async def get(self, endpoint_id: UUID) -> WebhookEndpoint | None:
        query = select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        row = (await self._session.execute(query)).mappings().first()
        return self._endpoint(row) if row else None

    async def update(self, endpoint: WebhookEndpoint) -> None:
        values = self._row(endpoint)
        del values["id"], values["created_at"]
        await self._session.execute(
            update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint.id).values(**values)
        )

    async def page(self, practice_id: UUID, page: PageRequest) -> Page[WebhookEndpoint]:
        query = select(webhook_endpoints).where(webhook_endpoints.c.practice_id == practice_id)
        order = (webhook_endpoints.c.created_at, webhook_endpoints.c.id)
        rows = await newest_first(self._session, query, order, page)
        return Page(items=[self._endpoint(row) for row in rows.items], next_key=rows.next_key)

    async def subscribed(self, practice_id: UUID, event_type: str) -> list[WebhookEndpoint]:
        query = (
            select(webhook_endpoints)
            .where(
                webhook_endpoints.c.practice_id == practice_id,
                webhook_endpoints.c.is_active,
                webhook_endpoints.c.event_types.any_() == event_type,
            )
            .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
        )
        rows = (await self._session.execute(query)).mappings().all()
        return [self._endpoint(row) for row in rows]

    async def add_deliveries(self, deliveries: Sequence[WebhookDelivery]) -> list[UUID]:
        if not deliveries:
            return []
        statement = (
            pg_insert(webhook_deliveries)
            .values([_DELIVERIES.values(delivery) for delivery in deliveries])
            .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
            .returning(webhook_deliveries.c.id)
        )
        return list((await self._session.execute(statement)).scalars())

    async def delivery(
        self, delivery_id: UUID, *, for_update: bool = False
    ) -> WebhookDelivery | None:
        query = select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return _DELIVERIES.entity(row) if row else None

    async def record_try(self, delivery_id: UUID, outcome: DeliveryTry) -> None:
        result = outcome.result
        values: dict[str, Any] = {
            "status": outcome.status.value,
            "attempts": webhook_deliveries.c.attempts + 1,
            "last_attempt_at": outcome.at,
            "last_status_code": result.status_code,
            "last_error": result.error,
        }
        if outcome.status is DeliveryStatus.SUCCEEDED:
            values["delivered_at"] = outcome.at
        await self._session.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(**values)
        )

    async def reopen(self, delivery_id: UUID) -> None:
        await self._session.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_id)
            .values(status=DeliveryStatus.PENDING.value, delivered_at=None)
        )

    async def deliveries(
        self, endpoint_id: UUID, page: PageRequest, status: DeliveryStatus | None
    ) -> Page[WebhookDelivery]:
        query = select(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(webhook_deliveries.c.status == status.value)
        order = (webhook_deliveries.c.created_at, webhook_deliveries.c.id)
        rows = await newest_first(self._session, query, order, page)
        return Page(items=[_DELIVERIES.entity(row) for row in rows.items], next_key=rows.next_key)
