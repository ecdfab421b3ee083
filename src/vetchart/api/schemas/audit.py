"""Audit trail responses."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class OutcomeIn(enum.StrEnum):
    SUCCESS = "success"
    DENIED = "denied"
    ERROR = "error"


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    occurred_at: datetime
    actor_id: UUID | None
    actor_role: str | None
    practice_id: UUID | None
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    request_id: str | None
    client_address: str | None
    user_agent: str | None
    details: dict[str, Any]


class AccessLogEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    occurred_at: datetime
    actor_id: UUID | None
    actor_name: str | None
    actor_role: str | None
    practice_id: UUID | None
    action: str
    resource_type: str
    resource_id: str | None
