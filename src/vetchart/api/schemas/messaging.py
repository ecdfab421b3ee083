"""Client messaging: channel consent, the message log, reminder rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field
from pydantic.dataclasses import dataclass

from vetchart.api.schemas.common import RequestModel, ResponseModel
from vetchart.domain.messaging import (
    MAX_LEAD_DAYS,
    MAX_LEAD_TIMES,
    MAX_SPECIES_LENGTH,
    Channel,
)
from vetchart.domain.records import RecordType
from vetchart.services.ports.notifications import LoggedMessage


class ChannelConsentOut(ResponseModel):
    channel: Channel
    granted: bool
    changed_at: datetime | None
    changed_by: UUID | None


class ConsentOut(ResponseModel):
    pet_owner_id: UUID
    channels: list[ChannelConsentOut]


class ConsentUpdateIn(RequestModel):
    """true opts in to a channel, false opts out; a channel not sent stays as it is."""

    email: bool | None = None
    sms: bool | None = None


# The message log answers each row as the log keeps it: the fields of LoggedMessage,
# declared there once. A field added there is
# answered too, and fails tests/unit/test_inherited_responses.py until reviewed and pinned.
@dataclass(frozen=True)
class MessageOut(LoggedMessage):
    pass


LeadDays = Annotated[
    list[Annotated[int, Field(ge=0, le=MAX_LEAD_DAYS)]],
    Field(min_length=1, max_length=MAX_LEAD_TIMES),
]


class ReminderRuleIn(RequestModel):
    record_type: RecordType = Field(
        description="Only `vaccination` for now (records carrying `data.next_due`)."
    )
    lead_days: LeadDays = Field(description="Days before `data.next_due`, e.g. [30, 7, 0].")
    species: str | None = Field(
        default=None, max_length=MAX_SPECIES_LENGTH, description="null: every species."
    )
    active: bool = True


class ReminderRuleUpdateIn(RequestModel):
    record_type: RecordType | None = None
    lead_days: LeadDays | None = None
    species: str | None = Field(default=None, max_length=MAX_SPECIES_LENGTH)
    active: bool | None = None


class ReminderRuleOut(ResponseModel):
    id: UUID
    practice_id: UUID
    record_type: RecordType
    species: str | None
    lead_days: list[int]
    active: bool
    created_at: datetime
    updated_at: datetime
