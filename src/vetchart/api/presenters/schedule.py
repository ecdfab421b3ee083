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
    return AppointmentOut.from_object(
        a,
        owner=OwnerBriefOut(id=a.pet_owner_id, full_name=view.owner_name),
        pets=[PetBriefOut.model_validate(p) for p in view.pets],
    )


def visit_out(visit: Visit) -> VisitOut:
    return VisitOut.from_object(
        visit,
        audio=AudioOut.model_validate(visit.audio) if visit.audio else None,
        audio_upload_pending=visit.audio_pending_key is not None,
    )


def attachment_out(attachment: Attachment) -> AttachmentOut:
    return AttachmentOut.model_validate(attachment)


def timeline_item_out(
    entry: TimelineEntry, record_out: Callable[[MedicalRecord], RecordOut]
) -> TimelineItemOut:
    """One entry of a pet's timeline (a record, an appointment or a visit); ``record_out``
    presents its record (as of now)."""
    record, appointment, visit = entry.record, entry.appointment, entry.visit
    if record is not None:
        title = record.content.title
    elif appointment is not None:
        title = appointment.appointment.title
    else:
        assert visit is not None
        title = "Visit"
    return TimelineItemOut.from_object(
        entry,
        title=title,
        medical_record=record_out(record) if record is not None else None,
        appointment=appointment_out(appointment) if appointment is not None else None,
        visit=visit_out(visit) if visit is not None else None,
    )
