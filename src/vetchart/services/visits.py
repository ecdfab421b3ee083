"""Visits (with their audio), medical-record attachments and the pet's timeline.

Uploads keep the stored object and the database row consistent: the bytes are streamed
to storage first (size limit while streaming, type judged by content); only then is the
row written, and if that fails the new object is deleted at once (the orphan sweep is
the backstop for a crash in between). A replaced object is deleted after the commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import structlog

from vetchart.domain import appointments as rules
from vetchart.domain.appointments import (
    NewVisit,
    StoredFile,
    Visit,
    VisitChanged,
    VisitChanges,
)
from vetchart.domain.audit import RequestMeta
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.commands import changed_fields, given
from vetchart.domain.errors import Conflict, NotFound, RuleViolation
from vetchart.domain.policy import (
    Action,
    ClientScope,
    PracticeBusiness,
    Principal,
    RecordRef,
    client_scope,
    require,
)
from vetchart.domain.records import MedicalRecord
from vetchart.domain.transcription import audio_attached, client_transcript_changed
from vetchart.domain.uploads import ObjectKey, UploadKind, sanitize_filename
from vetchart.services.audit import record as audit
from vetchart.services.audit import record_item, record_item_read, record_pet_read, record_read
from vetchart.services.base import QueryService, found
from vetchart.services.pets import require_version
from vetchart.services.ports.paging import Page, PageRequest
from vetchart.services.ports.records import Attachment
from vetchart.services.ports.schedule import ScheduleQueries, TimelineEntry
from vetchart.services.ports.storage import (
    HeadInspectorFactory,
    ObjectMissing,
    ObjectStorage,
    StoredObject,
)
from vetchart.services.ports.system import Clock, IdGenerator
from vetchart.services.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from vetchart.services.records import visible_record

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class UploadLimits:
    audio_bytes: int
    attachment_bytes: int
    signed_url_seconds: int


@dataclass(frozen=True)
class SignedUpload:
    upload_url: str
    headers: dict[str, str]
    expires_at: datetime


# The actions a read of one visit may be audited as (the JSON API's, the FHIR Encounter).
VISIT_READS = frozenset({AuditAction.VISIT_READ, AuditAction.FHIR_ENCOUNTER_READ})


class VisitService(QueryService[ScheduleQueries]):
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        queries: ScheduleQueries,
        clock: Clock,
        ids: IdGenerator,
        storage: ObjectStorage,
        inspectors: HeadInspectorFactory,
        limits: UploadLimits,
        transcription_configured: bool = False,
    ) -> None:
        super().__init__(uow=uow, queries=queries, clock=clock, ids=ids)
        self._transcription_configured = transcription_configured
        self._storage = storage
        self._inspectors = inspectors
        self._limits = limits

    # ------------------------------------------------------------------ visits

    async def create(
        self, actor: Principal, pet_id: UUID, new: NewVisit, meta: RequestMeta
    ) -> Visit:
        require(actor, Action.VISIT_CREATE)
        now = self._clock.now()
        practice_id = actor.practice_id
        assert practice_id is not None  # VISIT_CREATE is for staff only
        async with self._uow() as uow:
            pet = await uow.pets.get(pet_id, client_scope(actor))
            if pet is None:
                raise NotFound("Pet not found.")
            checked = await self._checked(uow, actor, pet_id, given(new))
            visit = Visit.new(
                id=self._ids.new_id(),
                pet_id=pet_id,
                practice_id=practice_id,
                appointment_id=checked.get("appointment_id"),
                visit_date=checked["visit_date"],
                transcript_text=checked.get("transcript_text"),
                created_by=actor.user_id,
                now=now,
            )
            client_transcript_changed(visit)
            visit.domain_events.append(
                VisitChanged(visit_id=visit.id, pet_id=pet_id, practice_id=practice_id, state="new")
            )
            await uow.visits.add(visit)
            audit(
                uow,
                meta,
                actor,
                AuditAction.VISIT_CREATE,
                visit.id,
                practice_id,
                pet_id=pet_id,
            )
            await uow.commit()
        return visit

    async def update(
        self,
        actor: Principal,
        visit_id: UUID,
        changes: VisitChanges,
        if_match: int | None,
        meta: RequestMeta,
    ) -> Visit:
        async with self._uow() as uow:
            visit = await locked_visit(uow, actor, visit_id)
            if if_match is not None:  # optional for visits (API.md); checked when sent
                require_version(if_match, visit.version, "visit")
            checked = await self._checked(uow, actor, visit.pet_id, given(changes))
            changed = changed_fields(visit, checked)
            if changed:
                for name in changed:
                    setattr(visit, name, checked[name])
                if "transcript_text" in changed:
                    client_transcript_changed(visit)
                visit.touch(self._clock.now())
                await _save_visit(
                    uow,
                    meta,
                    actor,
                    AuditAction.VISIT_UPDATE,
                    visit,
                    {"fields": sorted(changed), "version": visit.version},
                )
        return visit

    async def get(
        self,
        actor: Principal,
        visit_id: UUID,
        meta: RequestMeta,
        action: AuditAction = AuditAction.VISIT_READ,
    ) -> Visit:
        """The visit; its audit row (``action``: ``visit.read``, or the FHIR API's read of
        it) committed first."""
        if action not in VISIT_READS:
            raise ValueError(f"{action.name} is not a read of a visit")
        require(actor, Action.VISIT_READ)
        async with self._uow() as uow:
            visit = await _visible_visit(uow, actor, visit_id)
            record_item_read(uow, meta, actor, action, visit)
            await uow.commit()
        return visit

    async def for_pet(
        self, actor: Principal, pet_id: UUID, page: PageRequest, meta: RequestMeta
    ) -> Page[Visit]:
        require(actor, Action.VISIT_READ)
        await record_pet_read(self._uow, actor, pet_id, AuditAction.VISIT_LIST, meta)
        return await self._queries.visits_page(pet_id, page)

    async def for_appointment(
        self, actor: Principal, appointment_id: UUID, page: PageRequest, meta: RequestMeta
    ) -> Page[Visit]:
        """The visits of an appointment in the caller's appointment scope (404 otherwise):
        the row naming the appointment committed before any visit is read."""
        require(actor, Action.VISIT_READ)
        async with self._uow() as uow:
            appointment = await uow.appointments.get(appointment_id, client_scope(actor))
            if appointment is None:
                raise NotFound("Appointment not found.")
            pets = appointment.pet_ids
            record_read(
                uow,
                meta,
                actor,
                AuditAction.APPOINTMENT_VISIT_LIST,
                appointment_id,
                {"pet_ids": [str(p) for p in pets]},
                data_practice_id=appointment.practice_id,
                pet_id=pets[0] if len(pets) == 1 else None,
            )
            await uow.commit()
        return await self._queries.appointment_visits_page(appointment_id, page)

    async def timeline(
        self, actor: Principal, pet_id: UUID, page: PageRequest, meta: RequestMeta
    ) -> Page[TimelineEntry]:
        """Records, appointments and visits of the pet, newest day first."""
        require(actor, Action.MEDICAL_RECORD_READ)
        await record_pet_read(self._uow, actor, pet_id, AuditAction.PET_TIMELINE, meta)
        return await self._queries.timeline_page(pet_id, client_scope(actor), page)

    # ------------------------------------------------------------------ audio

    async def put_audio(
        self,
        actor: Principal,
        visit_id: UUID,
        chunks: AsyncIterator[bytes],
        content_type: str | None,
        meta: RequestMeta,
    ) -> Visit:
        """Streamed straight to storage (checked before the body is read: a refused caller
        stores nothing), then recorded on the visit."""
        async with self._uow() as uow:
            visit = await locked_visit(uow, actor, visit_id)
        key = self._new_key(UploadKind.VISIT_AUDIO)
        stored = await self._storage.put_stream(
            key,
            chunks,
            max_bytes=self._limits.audio_bytes,
            content_type=content_type,
            inspect_head=self._inspectors(UploadKind.VISIT_AUDIO),
        )
        return await self._attach_audio(actor, visit.id, stored, meta, pending=False)

    async def audio_upload_url(
        self, actor: Principal, visit_id: UUID, meta: RequestMeta
    ) -> SignedUpload:
        """A short-lived URL for a direct PUT to object storage; ``complete`` verifies it."""
        key = self._new_key(UploadKind.VISIT_AUDIO)
        async with self._uow() as uow:
            visit = await locked_visit(uow, actor, visit_id)
            visit.audio_pending_key = key
            visit.touch(self._clock.now())
            await _save_visit(uow, meta, actor, AuditAction.VISIT_AUDIO_UPLOAD_URL, visit)
        seconds = self._limits.signed_url_seconds
        url = await self._storage.signed_url(key, method="PUT", expires_in=seconds)
        return SignedUpload(url, {}, self._clock.now() + timedelta(seconds=seconds))

    async def complete_audio(self, actor: Principal, visit_id: UUID, meta: RequestMeta) -> Visit:
        async with self._uow() as uow:
            visit = await locked_visit(uow, actor, visit_id)
        key = visit.audio_pending_key
        if key is None:
            raise Conflict("No upload is pending for this visit.", code="no-pending-upload")
        try:
            stored = await self._storage.verify_upload(
                key,
                max_bytes=self._limits.audio_bytes,
                inspect_head=self._inspectors(UploadKind.VISIT_AUDIO),
            )
        except ObjectMissing:
            raise Conflict(
                "Nothing was uploaded to the upload URL yet.", code="upload-missing"
            ) from None
        return await self._attach_audio(actor, visit.id, stored, meta, pending=True)

    async def audio_url(self, actor: Principal, visit_id: UUID, meta: RequestMeta) -> str:
        require(actor, Action.VISIT_READ)
        async with self._uow() as uow:
            visit = await _visible_visit(uow, actor, visit_id)
            if visit.audio is None:
                raise NotFound("This visit has no recording.")
            record_item_read(uow, meta, actor, AuditAction.VISIT_AUDIO_READ, visit)
            await uow.commit()
        return await self._storage.signed_url(
            visit.audio.key,
            method="GET",
            expires_in=self._limits.signed_url_seconds,
            filename=visit.audio.file_name or _recording_name(visit.id, visit.audio.content_type),
        )

    async def _attach_audio(
        self,
        actor: Principal,
        visit_id: UUID,
        stored: StoredObject,
        meta: RequestMeta,
        *,
        pending: bool,
    ) -> Visit:
        replaced: str | None = None
        attached = False  # the object is (already) the visit's recording: never delete it
        try:
            async with self._uow() as uow:
                visit = await locked_visit(uow, actor, visit_id)
                attached = visit.audio is not None and visit.audio.key == stored.key
                if pending and visit.audio_pending_key != stored.key:
                    raise Conflict("Another upload replaced this one.", code="upload-superseded")
                replaced = visit.audio.key if visit.audio else None
                visit.audio = StoredFile(
                    key=stored.key,
                    content_type=stored.content_type or "application/octet-stream",
                    size_bytes=stored.size,
                    sha256=stored.sha256 or "",
                    file_name=None,
                )
                visit.audio_pending_key = None
                wanted = audio_attached(visit, configured=self._transcription_configured)
                if wanted is not None:
                    uow.record(wanted)
                visit.touch(self._clock.now())
                await _save_visit(
                    uow,
                    meta,
                    actor,
                    AuditAction.VISIT_AUDIO_UPLOAD,
                    visit,
                    {"size_bytes": stored.size, "content_type": stored.content_type},
                )
        except BaseException:
            if not attached:
                await self._forget(stored.key)
            raise
        if replaced:
            await self._forget(replaced)
        return visit

    # ------------------------------------------------------------------ attachments

    async def add_attachment(
        self,
        actor: Principal,
        record_id: UUID,
        upload: AttachmentUpload,
        meta: RequestMeta,
    ) -> Attachment:
        record = await self._record_for_attachment(actor, record_id)
        key = self._new_key(UploadKind.RECORD_ATTACHMENT)
        stored = await self._storage.put_stream(
            key,
            upload.chunks,
            max_bytes=self._limits.attachment_bytes,
            content_type=None,
            inspect_head=self._inspectors(UploadKind.RECORD_ATTACHMENT),
        )
        attachment = Attachment(
            id=self._ids.new_id(),
            record_id=record.id,
            practice_id=record.practice_id,
            object_key=stored.key,
            file_name=sanitize_filename(upload.file_name()),
            content_type=stored.content_type or "application/octet-stream",
            size_bytes=stored.size,
            sha256=stored.sha256 or "",
            description=(upload.description() or "").strip()[:1000] or None,
            created_by=actor.user_id,
            created_at=self._clock.now(),
        )
        try:
            async with self._uow() as uow:
                await uow.attachments.add(attachment)
                audit(
                    uow,
                    meta,
                    actor,
                    AuditAction.ATTACHMENT_CREATE,
                    attachment.id,
                    record.practice_id,
                    {"record_id": str(record.id), "size_bytes": stored.size},
                    pet_id=record.pet_id,
                )
                await uow.commit()
        except BaseException:
            await self._forget(stored.key)
            raise
        return attachment

    async def attachments(
        self, actor: Principal, record_id: UUID, meta: RequestMeta
    ) -> list[Attachment]:
        require(actor, Action.ATTACHMENT_READ)
        async with self._uow() as uow:
            record = await visible_record(uow, actor, record_id)
            record_item_read(uow, meta, actor, AuditAction.ATTACHMENT_LIST, record)
            found = await uow.attachments.for_record(record.id)
            await uow.commit()
        return found

    async def attachment_url(self, actor: Principal, attachment_id: UUID, meta: RequestMeta) -> str:
        require(actor, Action.ATTACHMENT_READ)
        async with self._uow() as uow:
            attachment = await uow.attachments.get(attachment_id, client_scope(actor))
            if attachment is None:
                raise NotFound("Attachment not found.")
            record = await uow.records.get(attachment.record_id, ClientScope(everything=True))
            record_read(
                uow,
                meta,
                actor,
                AuditAction.ATTACHMENT_READ,
                attachment.id,
                data_practice_id=attachment.practice_id,
                pet_id=record.pet_id if record else None,
            )
            await uow.commit()
        return await self._storage.signed_url(
            attachment.object_key,
            method="GET",
            expires_in=self._limits.signed_url_seconds,
            filename=attachment.file_name,
        )

    async def _record_for_attachment(self, actor: Principal, record_id: UUID) -> MedicalRecord:
        """Attaching is changing the record: the same people as PATCH may do it, with the
        same answers (out of scope: 404 before any permission check; visible: 403)."""
        async with self._uow() as uow:
            record = await visible_record(uow, actor, record_id)
        require(actor, Action.ATTACHMENT_CREATE, RecordRef.of(record))
        return record

    # ------------------------------------------------------------------ housekeeping

    async def sweep_orphans(self, older_than: timedelta) -> int:
        """Delete stored objects no row names, older than ``older_than`` (left by a crash
        between upload and commit, or an abandoned pre-signed upload)."""
        before = self._clock.now() - older_than
        removed = 0
        for kind in UploadKind:
            keys = [key async for key in self._storage.list_older_than(f"{kind.value}/", before)]
            for start in range(0, len(keys), 500):
                batch = keys[start : start + 500]
                async with self._uow() as uow:
                    kept = await uow.attachments.referenced(batch)
                for key in batch:
                    if key not in kept:
                        await self._storage.delete(key)
                        removed += 1
        return removed

    # ------------------------------------------------------------------ helpers

    def _new_key(self, kind: UploadKind) -> str:
        return ObjectKey.new(kind, now=self._clock.now(), object_id=self._ids.new_id()).value

    async def _forget(self, key: str) -> None:
        try:
            await self._storage.delete(key)
        except Exception as error:  # the orphan sweep removes it later
            log.warning("storage.delete_failed", key=key, error=type(error).__name__)

    async def _checked(
        self,
        uow: UnitOfWork,
        actor: Principal,
        pet_id: UUID,
        values: dict[str, Any],
    ) -> dict[str, Any]:
        """The command's values with the visit date checked against the clock and the
        appointment against the practice and the pet."""
        checked = dict(values)
        if "visit_date" in values:
            checked["visit_date"] = rules.check_visit_date(values["visit_date"], self._clock.now())
        if values.get("appointment_id") is not None:
            appointment = await uow.appointments.get(
                values["appointment_id"], ClientScope(practice_id=actor.practice_id)
            )
            if appointment is None or pet_id not in appointment.pet_ids:
                raise RuleViolation(
                    "The appointment must be one of this practice's, for this pet.",
                    rule="visit.appointment",
                    field="appointment_id",
                )
            checked["appointment_id"] = appointment.id
        return checked


async def locked_visit(
    uow: UnitOfWork, actor: Principal, visit_id: UUID, action: Action = Action.VISIT_UPDATE
) -> Visit:
    """The visit, row-locked, for a change by staff of its practice (``action``): out of
    the actor's scope it does not exist (404); visible but not theirs is 403."""
    require(actor, Action.VISIT_READ)
    visit = await _visible_visit(uow, actor, visit_id, for_update=True)
    require(actor, action, PracticeBusiness(visit.practice_id))
    return visit


async def _visible_visit(
    uow: UnitOfWork, actor: Principal, visit_id: UUID, *, for_update: bool = False
) -> Visit:
    """The visit in the actor's client scope; out of it, it does not exist (404)."""
    return found(
        await uow.visits.get(visit_id, client_scope(actor), for_update=for_update), "Visit"
    )


async def _save_visit(
    uow: UnitOfWork,
    meta: RequestMeta,
    actor: Principal,
    action: AuditAction,
    visit: Visit,
    details: dict[str, object] | None = None,
) -> None:
    """Store the visit's change with its audit row (its practice, its pet's access log),
    in one commit."""
    await uow.visits.save(visit)
    record_item(uow, meta, actor, action, visit, details)
    await uow.commit()


class AttachmentUpload:
    """A multipart upload being streamed: the file's bytes, then what came with it."""

    def __init__(self, chunks: AsyncIterator[bytes], file_name: Any, description: Any) -> None:
        self.chunks = chunks
        self._file_name = file_name
        self._description = description

    def file_name(self) -> str:
        return str(self._file_name() or "")

    def description(self) -> str | None:
        value = self._description()
        return None if value is None else str(value)


def _recording_name(visit_id: UUID, content_type: str) -> str:
    """The download name of a recording sent without one: ``visit-<id>.<extension>``."""
    return f"visit-{visit_id}{_AUDIO_EXTENSIONS.get(content_type, '')}"


_AUDIO_EXTENSIONS = {
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
    "audio/ogg": ".ogg",
    "audio/webm": ".webm",
    "audio/mp4": ".m4a",
    "audio/flac": ".flac",
}
