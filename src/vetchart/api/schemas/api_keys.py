"""API keys of a practice (docs/auth.md, "API keys")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from vetchart.api.schemas.bounded import BoundedAwareDatetime
from vetchart.api.schemas.common import RequestModel
from vetchart.domain.api_keys import INTEGRATION_SCOPES, MAX_NAME_LENGTH

# The actions a key may be scoped to (domain.api_keys.INTEGRATION_ACTIONS), as an enum
# in OpenAPI (tests/unit/test_api_keys_domain.py keeps the two the same).
Scope = Literal[
    "appointment.create",
    "appointment.read",
    "appointment.update",
    "association.create",
    "association.list",
    "attachment.read",
    "follow_ups.list",
    "medical_record.create",
    "medical_record.read",
    "message.list",
    "message_consent.read",
    "pet.create",
    "pet.read",
    "pet.update",
    "pet_owner.create",
    "pet_owner.read",
    "pet_owner.update",
    "practice.read",
    "practice.staff_list",
    "reminder_rule.read",
    "schedule.read",
    "slots.read",
    "visit.read",
]
KeyStateOut = Literal["active", "revoked", "expired"]
Scopes = Annotated[list[Scope], Field(min_length=1, max_length=len(INTEGRATION_SCOPES))]


class ApiKeyIn(RequestModel):
    name: str = Field(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        description="What the key is for (shown in lists).",
    )
    scopes: Scopes = Field(description="The actions the key may do (at least one).")
    expires_at: BoundedAwareDatetime | None = Field(
        default=None, description="When the key stops working (none: until revoked)."
    )


class ApiKeyOut(BaseModel):
    id: UUID
    practice_id: UUID
    name: str
    prefix: str = Field(description="The key's public part, vck_<public id>: tells keys apart.")
    scopes: list[Scope]
    state: KeyStateOut
    created_by: UUID
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="Approximate: written at most once per VETCHART_API_KEY_LAST_USED_SECONDS."
    )
    revoked_at: datetime | None
    expires_at: datetime | None


class ApiKeyWithSecretOut(ApiKeyOut):
    key: str = Field(
        description="The whole key (vck_<public id>_<secret>), shown only in this answer: "
        "send it as Authorization: Bearer <key> or X-API-Key: <key>."
    )
