"""Appointments, visits, attachments and the dashboard."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field

from vetchart.api.schemas.bounded import JSON_OBJECT_BOUNDS, BoundedAwareDatetime
from vetchart.api.schemas.common import RequestModel, ResponseModel
from vetchart.api.schemas.records import RecordOut
from vetchart.domain.appointments import (
    MAX_DURATION_MINUTES,
    MAX_NOTES_LENGTH,
    MAX_PETS_PER_APPOINTMENT,
    MAX_TITLE_LENGTH,
    MAX_TRANSCRIPT_LENGTH,
    MIN_DURATION_MINUTES,
    AppointmentStatus,
    AppointmentType,
    VisitState,
)
from vetchart.domain.records import RecordType
from vetchart.domain.transcription import TranscriptionStatus

Duration = Annotated[int, Field(ge=MIN_DURATION_MINUTES, le=MAX_DURATION_MINUTES)]
Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE_LENGTH)]
Notes = Annotated[str | None, Field(max_length=MAX_NOTES_LENGTH)]
PetIds = Annotated[list[UUID], Field(min_length=1, max_length=MAX_PETS_PER_APPOINTMENT)]
Transcript = Annotated[str | None, Field(max_length=MAX_TRANSCRIPT_LENGTH)]


class AppointmentIn(RequestModel):
    pet_owner_id: UUID
    pet_ids: PetIds
    assigned_vet_id: UUID
    start_at: BoundedAwareDatetime
    duration_minutes: Duration
    appointment_type: AppointmentType = AppointmentType.CHECKUP
    title: Title
    notes: Notes = None


class AppointmentPatch(RequestModel):
    pet_ids: PetIds | None = None
    assigned_vet_id: UUID | None = None
    start_at: BoundedAwareDatetime | None = None
    duration_minutes: Duration | None = None
    appointment_type: AppointmentType | None = None
    title: Title | None = None
    notes: Notes = None


class StatusIn(RequestModel):
    status: AppointmentStatus


class PetBriefOut(ResponseModel):
    id: UUID
    name: str
    species: str


class OwnerBriefOut(ResponseModel):
    id: UUID
    full_name: str


class AppointmentOut(ResponseModel):
    id: UUID
    practice_id: UUID
    pet_owner_id: UUID
    owner: OwnerBriefOut
    pet_ids: list[UUID]
    pets: list[PetBriefOut]
    assigned_vet_id: UUID
    start_at: datetime
    end_at: datetime
    duration_minutes: int
    appointment_type: AppointmentType
    title: str
    notes: str | None
    status: AppointmentStatus
    version: int
    created_at: datetime
    updated_at: datetime


class VisitIn(RequestModel):
    visit_date: BoundedAwareDatetime
    appointment_id: UUID | None = None
    transcript_text: Transcript = None


class VisitPatch(RequestModel):
    visit_date: BoundedAwareDatetime | None = None
    appointment_id: UUID | None = None
    transcript_text: Transcript = None


class AudioOut(ResponseModel):
    content_type: str
    size_bytes: int
    sha256: str


class VisitOut(ResponseModel):
    id: UUID
    pet_id: UUID
    practice_id: UUID
    appointment_id: UUID | None
    visit_date: datetime
    transcript_text: str | None
    state: VisitState
    audio: AudioOut | None
    audio_upload_pending: bool
    summary: dict[str, Any] | None
    summary_record_id: UUID | None
    transcript_source: str | None = Field(
        description="Who wrote transcript_text: client, openai or local (speech to text)."
    )
    transcription_status: TranscriptionStatus = Field(
        description="Speech to text of the recording: not_requested, not_configured, "
        "pending, transcribing, done or failed (docs/transcription.md)."
    )
    transcription_error: str | None = Field(
        description="Why the transcription failed, or why it is being retried."
    )
    transcription: dict[str, Any] | None = Field(
        description="The machine transcript's provenance: adapter, model, language, "
        "duration_seconds, segments [{start, end, text}], audio_sha256, transcribed_at."
    )
    created_by: UUID
    version: int
    created_at: datetime
    updated_at: datetime


class UploadUrlOut(ResponseModel):
    upload_url: str
    headers: dict[str, str]
    expires_at: datetime


class AttachmentOut(ResponseModel):
    id: UUID
    record_id: UUID
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    description: str | None
    created_by: UUID
    created_at: datetime


class DashboardOut(ResponseModel):
    date: date
    timezone: str
    appointments: list[AppointmentOut]
    follow_ups: list[RecordOut]
    visits_awaiting_review: list[VisitOut]


class TimelineItemOut(ResponseModel):
    kind: str = Field(description="`medical_record`, `appointment` or `visit`.")
    id: UUID
    occurred_on: date = Field(description="The day, in the practice's timezone.")
    title: str
    medical_record: RecordOut | None = None
    appointment: AppointmentOut | None = None
    visit: VisitOut | None = None


class SummaryAcceptIn(RequestModel):
    record_type: RecordType | None = None
    title: Title | None = None
    edits: (
        Annotated[dict[str, Annotated[str, Field(max_length=5000)]], JSON_OBJECT_BOUNDS] | None
    ) = Field(
        default=None,
        description="Replacement text per section (presenting_complaint, findings, "
        "assessment, plan, follow_up); the draft's text is used for the others.",
    )
