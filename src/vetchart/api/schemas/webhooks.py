"""Webhooks: a practice's endpoints and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from vetchart.api.schemas.common import RequestModel, ResponseModel
from vetchart.domain.webhooks import EVENT_TYPES, MAX_DESCRIPTION_LENGTH, MAX_URL_LENGTH

# The published event types (domain.webhooks.PUBLISHED_EVENTS), as an enum in OpenAPI.
EventType = Literal[
    "appointment.changed",
    "visit.changed",
    "medical_record.created",
    "medical_record.amended",
    "medical_record.signed",
    "medical_record.entered_in_error",
]
DeliveryStatusOut = Literal["pending", "succeeded", "dead"]
Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH)]
EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES))]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH)]


class WebhookIn(RequestModel):
    url: Url = Field(description="https (plain http only where private targets are allowed).")
    event_types: EventTypes
    description: Description | None = None


class WebhookUpdateIn(RequestModel):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    is_active: bool | None = None


class WebhookOut(ResponseModel):
    id: UUID
    practice_id: UUID
    url: str
    event_types: list[EventType]
    description: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class WebhookWithSecretOut(WebhookOut):
    secret: str = Field(
        description="The signing secret (`whsec_` + base64), shown only in this answer."
    )


class WebhookDeliveryOut(ResponseModel):
    id: UUID = Field(description="Also the `webhook-id` header of every try.")
    webhook_id: UUID
    event_id: UUID
    event_type: EventType
    status: DeliveryStatusOut
    attempts: int
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
