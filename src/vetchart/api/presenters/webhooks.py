"""Webhook endpoints and deliveries as the API answers them (the secret only on request)."""

from __future__ import annotations

from vetchart.api.schemas.webhooks import WebhookDeliveryOut, WebhookOut, WebhookWithSecretOut
from vetchart.domain.webhooks import WebhookDelivery, WebhookEndpoint


def webhook_out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut.from_object(endpoint)


def webhook_with_secret_out(endpoint: WebhookEndpoint) -> WebhookWithSecretOut:
    return WebhookWithSecretOut.from_object(endpoint)


def delivery_out(delivery: WebhookDelivery) -> WebhookDeliveryOut:
    return WebhookDeliveryOut.from_object(
        delivery, webhook_id=delivery.endpoint_id, status=delivery.status.value
    )
