"""Appointments, visits, attachments and the timeline as responses: from the service's
views, and appointments from the fast path's rows (orjson, see ``encoding``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from vetchart.api.schemas.records import RecordOut
from vetchart.api.schemas.schedule import (
    AppointmentOut,
    AttachmentOut,
    AudioOut,
    OwnerBriefOut,
    PetBriefOut,
    TimelineItemOut,
    VisitOut,
)
from vetchart.domain.appointments import Visit
from vetchart.domain.records import MedicalRecord
from vetchart.services.ports.paging import Row
from vetchart.services.ports.records import Attachment
from vetchart.services.ports.schedule import AppointmentView, TimelineEntry

APPOINTMENT_FIELDS = tuple(AppointmentOut.model_fields)


def appointment_item(row: Row) -> dict[str, Any]:
    """An appointment (AppointmentOut) from a row with ``owner_name`` and ``pets`` (JSON
    text) beside the appointment's own columns."""
    item = {name: row[name] for name in APPOINTMENT_FIELDS if name not in ("owner", "pets")}
    item["owner"] = {"id": row["pet_owner_id"], "full_name": row["owner_name"]}
    item["pets"] = orjson.Fragment(row["pets"])
    return {name: item[name] for name in APPOINTMENT_FIELDS}


def appointment_out(view: AppointmentView) -> AppointmentOut:
    a = view.appointment
    return AppointmentOut(
        id=a.id,
        practice_id=a.practice_id,
        pet_owner_id=a.pet_owner_id,
        owner=OwnerBriefOut(id=a.pet_owner_id, full_name=view.owner_name),
        pet_ids=list(a.pet_ids),
        pets=[PetBriefOut(id=p.id, name=p.name, species=p.species) for p in view.pets],
        assigned_vet_id=a.assigned_vet_id,
        start_at=a.start_at,
        end_at=a.end_at,
        duration_minutes=a.duration_minutes,
        appointment_type=a.appointment_type,
        title=a.title,
        notes=a.notes,
        status=a.status,
        version=a.version,
        created_at=a.created_at,
        updated_at=a.updated_at,
    )


def visit_out(visit: Visit) -> VisitOut:
    audio = visit.audio
    return VisitOut(
        id=visit.id,
        pet_id=visit.pet_id,
        practice_id=visit.practice_id,
        appointment_id=visit.appointment_id,
        visit_date=visit.visit_date,
        transcript_text=visit.transcript_text,
        state=visit.state,
        audio=AudioOut(
            content_type=audio.content_type, size_bytes=audio.size_bytes, sha256=audio.sha256
        )
        if audio
        else None,
        audio_upload_pending=visit.audio_pending_key is not None,
        summary=visit.summary,
        summary_record_id=visit.summary_record_id,
        transcript_source=visit.transcript_source,
        transcription_status=visit.transcription_status,
        transcription_error=visit.transcription_error,
        transcription=visit.transcription,
        created_by=visit.created_by,
        version=visit.version,
        created_at=visit.created_at,
        updated_at=visit.updated_at,
    )


def attachment_out(attachment: Attachment) -> AttachmentOut:
    return AttachmentOut.model_validate(attachment)


def timeline_item_out(
    entry: TimelineEntry, record_out: Callable[[MedicalRecord], RecordOut]
) -> TimelineItemOut:
    """One entry of a pet's timeline; ``record_out`` presents its record (as of now)."""
    if entry.record is not None:
        return TimelineItemOut(
            kind=entry.kind,
            id=entry.id,
            occurred_on=entry.occurred_on,
            title=entry.record.content.title,
            medical_record=record_out(entry.record),
        )
    if entry.appointment is not None:
        return TimelineItemOut(
            kind=entry.kind,
            id=entry.id,
            occurred_on=entry.occurred_on,
            title=entry.appointment.appointment.title,
            appointment=appointment_out(entry.appointment),
        )
    assert entry.visit is not None
    return TimelineItemOut(
        kind=entry.kind,
        id=entry.id,
        occurred_on=entry.occurred_on,
        title="Visit",
        visit=visit_out(entry.visit),
    )
