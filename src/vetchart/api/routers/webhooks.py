"""Webhooks (PRACTICE_ADMIN of the practice, SYSTEM_ADMIN): endpoints under
/api/v1/practices/{id}/webhooks and /api/v1/webhooks/{id}, and the delivery log with its
resend (docs/webhooks.md)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response, status

from vetchart.api.dependencies import WebhooksDep
from vetchart.api.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    Paginator,
    parse_datetime,
)
from vetchart.api.presenters import delivery_out, webhook_out, webhook_with_secret_out
from vetchart.api.route_audit import audited
from vetchart.api.schemas.common import ListResponse, problem_responses
from vetchart.api.schemas.webhooks import (
    DeliveryStatusOut,
    WebhookDeliveryOut,
    WebhookIn,
    WebhookOut,
    WebhookUpdateIn,
    WebhookWithSecretOut,
)
from vetchart.api.security import CurrentPrincipal, MetaDep
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.webhooks import DeliveryStatus, NewWebhook, WebhookChanges

router = APIRouter(tags=["webhooks"])


@audited(AuditAction.WEBHOOK_CREATE)
@router.post(
    "/practices/{practice_id}/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookWithSecretOut,
    summary="Register a webhook endpoint; the answer carries its signing secret, once",
    description="The URL must be https and must not point to a private, loopback, "
    "link-local or reserved address, nor carry credentials. Events are signed with the "
    "secret (Standard Webhooks); keep it, it is not shown again (rotate it to get a new one).",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def register_webhook(
    practice_id: UUID,
    body: WebhookIn,
    response: Response,
    principal: CurrentPrincipal,
    webhooks: WebhooksDep,
    meta: MetaDep,
) -> WebhookWithSecretOut:
    command = NewWebhook(
        url=body.url, event_types=tuple(body.event_types), description=body.description
    )
    endpoint = await webhooks.register(principal, practice_id, command, meta)
    response.headers["Location"] = f"/api/v1/webhooks/{endpoint.id}"
    return webhook_with_secret_out(endpoint)


@audited(AuditAction.WEBHOOK_LIST)
@router.get(
    "/practices/{practice_id}/webhooks",
    response_model=ListResponse[WebhookOut],
    summary="A practice's webhook endpoints, newest first (no secrets)",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def list_webhooks(
    practice_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    webhooks: WebhooksDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[WebhookOut]:
    pager = Paginator(request, "webhooks", {"practice_id": practice_id}, (parse_datetime, UUID))
    page = await webhooks.list(principal, practice_id, pager.page_request(cursor, limit))
    return pager.answer(ListResponse[WebhookOut], page, webhook_out)


@audited(AuditAction.WEBHOOK_READ)
@router.get(
    "/webhooks/{webhook_id}",
    response_model=WebhookOut,
    summary="A webhook endpoint (no secret)",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def get_webhook(
    webhook_id: UUID, principal: CurrentPrincipal, webhooks: WebhooksDep
) -> WebhookOut:
    return webhook_out(await webhooks.get(principal, webhook_id))


@audited(AuditAction.WEBHOOK_UPDATE)
@router.patch(
    "/webhooks/{webhook_id}",
    response_model=WebhookOut,
    summary="Change a webhook endpoint's URL, event types, description or active flag",
    description="Send only the fields to change. A disabled endpoint gets no new "
    "deliveries, and its queued ones end `dead` (re-sendable once it is enabled again).",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def update_webhook(
    webhook_id: UUID,
    body: WebhookUpdateIn,
    principal: CurrentPrincipal,
    webhooks: WebhooksDep,
    meta: MetaDep,
) -> WebhookOut:
    values = body.model_dump(exclude_unset=True)
    if isinstance(values.get("event_types"), list):
        values["event_types"] = tuple(values["event_types"])
    endpoint = await webhooks.update(principal, webhook_id, WebhookChanges(**values), meta)
    return webhook_out(endpoint)


@audited(AuditAction.WEBHOOK_ROTATE_SECRET)
@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=WebhookWithSecretOut,
    summary="Replace the endpoint's signing secret; the answer carries the new one, once",
    description="The old secret stops signing at once: tries from now on carry the new "
    "signature only.",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def rotate_webhook_secret(
    webhook_id: UUID, principal: CurrentPrincipal, webhooks: WebhooksDep, meta: MetaDep
) -> WebhookWithSecretOut:
    return webhook_with_secret_out(await webhooks.rotate_secret(principal, webhook_id, meta))


@audited(AuditAction.WEBHOOK_DELIVERY_LIST)
@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=ListResponse[WebhookDeliveryOut],
    summary="The endpoint's delivery log, newest first (optionally by status)",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def list_webhook_deliveries(
    webhook_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    webhooks: WebhooksDep,
    status: DeliveryStatusOut | None = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[WebhookDeliveryOut]:
    filters = {"webhook_id": webhook_id, "status": status}
    pager = Paginator(request, "webhook-deliveries", filters, (parse_datetime, UUID))
    page = await webhooks.deliveries(
        principal,
        webhook_id,
        pager.page_request(cursor, limit),
        DeliveryStatus(status) if status else None,
    )
    return pager.answer(ListResponse[WebhookDeliveryOut], page, delivery_out)


@audited(AuditAction.WEBHOOK_DELIVERY_RESEND)
@router.post(
    "/webhook-deliveries/{delivery_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WebhookDeliveryOut,
    summary="Send a delivery again (a dead one, or a succeeded one wanted again)",
    description="Queues a new sending with the full number of tries and the same "
    "`webhook-id`; 409 while the delivery is still pending or its endpoint is disabled.",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def resend_webhook_delivery(
    delivery_id: UUID, principal: CurrentPrincipal, webhooks: WebhooksDep, meta: MetaDep
) -> WebhookDeliveryOut:
    return delivery_out(await webhooks.resend(principal, delivery_id, meta))
