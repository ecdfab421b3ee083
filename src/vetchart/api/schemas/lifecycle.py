"""Schemas of invitation management and the owner lifecycle (docs/owner-lifecycle.md)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field

from vetchart.api.schemas.common import RequestModel, ResponseModel
from vetchart.domain.invitations import InvitationStatus
from vetchart.domain.users import Role


class InvitationFilter(enum.StrEnum):
    """The `status` filter of a practice's invitations: one state, or `all`."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"
    ALL = "all"

    @property
    def state(self) -> InvitationStatus | None:
        return None if self is InvitationFilter.ALL else InvitationStatus(self.value)


class InvitationStateOut(ResponseModel):
    """An invitation as its practice's admins manage it: never its token (only a digest
    of it is stored)."""

    id: UUID
    practice_id: UUID
    email: str
    role: Role
    status: InvitationStatus = Field(
        description="pending (acceptable), accepted, revoked, or expired (7 days passed)."
    )
    invited_by: UUID
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    accepted_user_id: UUID | None
    revoked_at: datetime | None
    revoked_by: UUID | None


class InvitationAcceptExistingIn(RequestModel):
    token: Annotated[str, Field(min_length=1, max_length=512)]


Item = dict[str, Any]


class OwnerExportOut(ResponseModel):
    """Everything stored about one owner and their pets (GDPR access), as stored: each
    object with every field of its table (storage keys aside)."""

    exported_at: datetime
    view: Literal["full", "practice"] = Field(
        description="full: the owner themselves or SYSTEM_ADMIN (with the audit rows about "
        "them); practice: a PRACTICE_ADMIN's, their practice's associations and "
        "appointments only, no audit rows."
    )
    owner: Item
    pets: list[Item]
    associations: list[Item]
    appointments: list[Item] = Field(description="Each with its `pet_ids`.")
    visits: list[Item]
    medical_records: list[Item] = Field(
        description="Each current record with `versions`: every event of its history, "
        "oldest first (version, event_type, changed_fields, snapshot, actor_id, reason, "
        "late, recorded_at)."
    )
    attachments: list[Item]
    audit_events: list[Item] = Field(
        description="Who did what to the owner or their pets, when (the access log's "
        "fields). Empty in the practice view."
    )
