"""Webhook endpoints and deliveries as the API answers them (the secret only on request)."""

from __future__ import annotations

from vetchart.api.schemas.webhooks import WebhookDeliveryOut, WebhookOut, WebhookWithSecretOut
from vetchart.domain.webhooks import WebhookDelivery, WebhookEndpoint


def _fields(endpoint: WebhookEndpoint) -> dict[str, object]:
    return {
        "id": endpoint.id,
        "practice_id": endpoint.practice_id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "description": endpoint.description,
        "is_active": endpoint.is_active,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


def webhook_out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut.model_validate(_fields(endpoint))


def webhook_with_secret_out(endpoint: WebhookEndpoint) -> WebhookWithSecretOut:
    return WebhookWithSecretOut.model_validate({**_fields(endpoint), "secret": endpoint.secret})


def delivery_out(delivery: WebhookDelivery) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=delivery.id,
        webhook_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status.value,
        attempts=delivery.attempts,
        last_attempt_at=delivery.last_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )
