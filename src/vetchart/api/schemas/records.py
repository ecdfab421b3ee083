"""Medical record schemas."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field

from vetchart.api.schemas.bounded import BoundedDate, JsonObject
from vetchart.api.schemas.common import RequestModel, ResponseModel
from vetchart.domain.records import EventType, RecordStatus, RecordType

Title = Annotated[str, Field(min_length=1, max_length=300)]
LongText = Annotated[str, Field(max_length=20_000)]
# The ranges are business rules checked by the domain (a 422 naming the rule and field,
# with the species' plausible range); the schema only bounds the precision stored.
Weight = Annotated[
    Decimal,
    Field(
        max_digits=7,
        decimal_places=3,
        description="Above 0 and at most 1500 kg, and plausible for the species "
        "(rules medical_record.weight_out_of_range, .weight_implausible_for_species).",
    ),
]
Temperature = Annotated[
    Decimal,
    Field(
        max_digits=4,
        decimal_places=1,
        description="30-45 °C, and plausible for the species (rules "
        "medical_record.temperature_out_of_range, .temperature_implausible_for_species).",
    ),
]
Cost = Annotated[
    Decimal,
    Field(
        max_digits=12,
        decimal_places=2,
        description="Not negative (rule medical_record.cost_negative).",
    ),
]


class _RecordIn(RequestModel):
    """A record's fields, each optional (an update's; a new record requires some)."""

    record_type: RecordType | None = None
    title: Title | None = None
    visit_date: BoundedDate | None = None
    description: LongText | None = None
    diagnosis: LongText | None = None
    treatment: LongText | None = None
    medications: LongText | None = None
    weight_kg: Weight | None = None
    temperature_c: Temperature | None = None
    cost: Cost | None = None
    follow_up_required: bool | None = None
    follow_up_date: BoundedDate | None = None
    data: JsonObject | None = None


class RecordCreateIn(_RecordIn):
    record_type: RecordType
    title: Title
    visit_date: BoundedDate = Field(description="Not in the future, not before the pet's birth.")
    follow_up_required: bool = False
    follow_up_date: BoundedDate | None = Field(
        default=None, description="Required, and after visit_date, when follow_up_required."
    )
    data: JsonObject = Field(
        default_factory=dict,
        description="Structured data; a vaccination needs data.vaccine_name. At most 64 KiB "
        "as JSON and 8 levels of nesting.",
        examples=[{"vaccine_name": "DHPPi", "batch": "A1234"}],
    )


class RecordUpdateIn(_RecordIn):
    """Only the fields to change. After finalisation an amendment_reason is required."""

    amendment_reason: Annotated[str, Field(min_length=1, max_length=2000)] | None = None


class EnteredInErrorIn(RequestModel):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class RecordOut(ResponseModel):
    id: UUID
    pet_id: UUID
    practice_id: UUID
    author_id: UUID
    record_type: RecordType
    title: str
    description: str | None
    visit_date: date
    diagnosis: str | None
    treatment: str | None
    medications: str | None
    weight_kg: Decimal | None
    temperature_c: Decimal | None
    cost: Decimal | None
    follow_up_required: bool
    follow_up_date: date | None
    data: dict[str, Any]
    status: RecordStatus
    version: int
    created_at: datetime
    updated_at: datetime
    finalised_at: datetime | None = Field(
        description="When the record was finalised (signed, or automatically after the "
        "configured period); null while it can still be tidied freely."
    )
    signed_at: datetime | None
    signed_by: UUID | None
    entered_in_error_reason: str | None


class TimelineItemOut(ResponseModel):
    kind: str = Field(
        description="What the item is: `medical_record` (visits and "
        "appointments join the timeline with their feature)."
    )
    id: UUID
    occurred_on: date
    title: str
    medical_record: RecordOut | None = None


class ActorOut(ResponseModel):
    id: UUID
    full_name: str
    role: str


class HistoryEntryOut(ResponseModel):
    version: int
    event_type: EventType
    recorded_at: datetime
    actor_id: UUID
    actor: ActorOut
    reason: str | None
    changed_fields: list[str]
    late: bool = Field(description="An amendment after finalisation (an addendum).")
    snapshot: dict[str, Any]


class HistoryOut(ResponseModel):
    """The list envelope of API.md: a page of versions, oldest first."""

    items: list[HistoryEntryOut]
    next_cursor: str | None
