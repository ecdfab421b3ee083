"""Visits and their audio, medical-record attachments, and the pet's timeline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date
from uuid import UUID

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import RedirectResponse
from fastapi.types import DecoratedCallable

from vetchart.api.dependencies import (
    RecordsDep,
    SummariesDep,
    TranscriptionDep,
    UploadLimitsDep,
    VisitsDep,
)
from vetchart.api.multipart import StreamingForm
from vetchart.api.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    Paginator,
    parse_datetime,
)
from vetchart.api.presenters import attachment_out, record_out, timeline_item_out, visit_out
from vetchart.api.route_audit import audited
from vetchart.api.schemas.common import ListResponse, problem_responses
from vetchart.api.schemas.records import RecordOut
from vetchart.api.schemas.schedule import (
    AttachmentOut,
    SummaryAcceptIn,
    TimelineItemOut,
    UploadUrlOut,
    VisitIn,
    VisitOut,
    VisitPatch,
)
from vetchart.api.security import CurrentPrincipal, MetaDep
from vetchart.api.uploads import multipart_openapi, raw_body, upload_limit
from vetchart.api.versioning import IfMatchHeader, etag, parse_if_match
from vetchart.domain.appointments import NewVisit, SummaryAcceptance, Visit, VisitChanges
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.errors import RuleViolation
from vetchart.domain.uploads import UploadKind
from vetchart.services.ports.storage import IncomingFile
from vetchart.services.visits import AttachmentUpload

router = APIRouter(tags=["visits"])

# Reads of stored bytes answer with a redirect to a short-lived signed URL.
REDIRECT_RESPONSES: dict[int | str, dict[str, object]] = {
    307: {"description": "Location: a short-lived URL of the bytes (no token needed)."},
    **problem_responses(401, 403, 404, 429, 503),
}


def _signed_read(path: str, summary: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """A read of stored bytes: its route answers a redirect to a short-lived signed URL."""
    return router.get(
        path,
        status_code=status.HTTP_307_TEMPORARY_REDIRECT,
        summary=summary,
        responses=REDIRECT_RESPONSES,
    )


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)


AUDIO_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _with_etag(response: Response, visit: Visit) -> VisitOut:
    response.headers["ETag"] = etag(visit.version)
    return visit_out(visit)


@audited(AuditAction.VISIT_CREATE)
@router.post(
    "/pets/{pet_id}/visits",
    status_code=status.HTTP_201_CREATED,
    response_model=VisitOut,
    summary="Record a visit (staff in scope)",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def create_visit(
    pet_id: UUID,
    body: VisitIn,
    response: Response,
    principal: CurrentPrincipal,
    visits: VisitsDep,
    meta: MetaDep,
) -> VisitOut:
    visit = await visits.create(principal, pet_id, NewVisit(**body.model_dump()), meta)
    response.headers["Location"] = f"/api/v1/visits/{visit.id}"
    return _with_etag(response, visit)


@audited(AuditAction.VISIT_LIST)
@router.get(
    "/pets/{pet_id}/visits",
    response_model=ListResponse[VisitOut],
    summary="A pet's visits, newest first (in scope)",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def pet_visits(
    pet_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    visits: VisitsDep,
    meta: MetaDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[VisitOut]:
    pager = Paginator(request, "visits", {"pet_id": pet_id}, (parse_datetime, UUID))
    page = await visits.for_pet(principal, pet_id, pager.page_request(cursor, limit), meta)
    return pager.answer(ListResponse[VisitOut], page, visit_out)


@audited(AuditAction.APPOINTMENT_VISIT_LIST)
@router.get(
    "/visits",
    response_model=ListResponse[VisitOut],
    summary="An appointment's visits, newest first (in the appointment's scope)",
    description="`appointment_id` is required: the visits recorded for that appointment, "
    "by visit_date descending, then id. The appointment must be in the caller's scope (its "
    "practice's staff, its owner, SYSTEM_ADMIN; 404 otherwise). Audited as `visit.list` "
    "naming the appointment.",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def appointment_visits(
    appointment_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    visits: VisitsDep,
    meta: MetaDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[VisitOut]:
    pager = Paginator(
        request, "appointment-visits", {"appointment_id": appointment_id}, (parse_datetime, UUID)
    )
    page = await visits.for_appointment(
        principal, appointment_id, pager.page_request(cursor, limit), meta
    )
    return pager.answer(ListResponse[VisitOut], page, visit_out)


@audited(AuditAction.VISIT_READ)
@router.get(
    "/visits/{visit_id}",
    response_model=VisitOut,
    summary="One visit (in scope)",
    responses=problem_responses(401, 403, 404, 429),
)
async def get_visit(
    visit_id: UUID,
    response: Response,
    principal: CurrentPrincipal,
    visits: VisitsDep,
    meta: MetaDep,
) -> VisitOut:
    return _with_etag(response, await visits.get(principal, visit_id, meta))


@audited(AuditAction.VISIT_UPDATE)
@router.patch(
    "/visits/{visit_id}",
    response_model=VisitOut,
    summary="Edit a visit (staff of its practice; If-Match)",
    responses=problem_responses(400, 401, 403, 404, 412, 422, 428, 429),
)
async def update_visit(
    visit_id: UUID,
    body: VisitPatch,
    response: Response,
    principal: CurrentPrincipal,
    visits: VisitsDep,
    meta: MetaDep,
    if_match: IfMatchHeader = None,
) -> VisitOut:
    visit = await visits.update(
        principal,
        visit_id,
        VisitChanges(**body.model_dump(exclude_unset=True)),
        parse_if_match(if_match),
        meta,
    )
    return _with_etag(response, visit)


@audited(AuditAction.VISIT_AUDIO_UPLOAD)
@router.put(
    "/visits/{visit_id}/audio",
    status_code=status.HTTP_201_CREATED,
    response_model=VisitOut,
    summary="Upload the visit's recording (staff; streamed body)",
    description="The raw audio as the body. Judged by its content (m4a, mp3, wav, webm, ogg, "
    "flac), not its Content-Type: 415 otherwise; 413 past the size limit (reading stops "
    "there). Replaces an earlier recording.",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
    openapi_extra=AUDIO_BODY | upload_limit(UploadKind.VISIT_AUDIO),
)
async def put_audio(
    visit_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    visits: VisitsDep,
    meta: MetaDep,
) -> VisitOut:
    visit = await visits.put_audio(
        principal, visit_id, raw_body(request), request.headers.get("content-type"), meta
    )
    return visit_out(visit)


@audited(AuditAction.VISIT_AUDIO_UPLOAD_URL)
@router.post(
    "/visits/{visit_id}/audio/upload-url",
    response_model=UploadUrlOut,
    summary="A short-lived URL to PUT the recording straight to storage (staff)",
    responses=problem_responses(401, 403, 404, 429, 503),
)
async def audio_upload_url(
    visit_id: UUID, principal: CurrentPrincipal, visits: VisitsDep, meta: MetaDep
) -> UploadUrlOut:
    signed = await visits.audio_upload_url(principal, visit_id, meta)
    return UploadUrlOut(
        upload_url=signed.upload_url, headers=signed.headers, expires_at=signed.expires_at
    )


@audited(AuditAction.VISIT_AUDIO_UPLOAD)
@router.post(
    "/visits/{visit_id}/audio/complete",
    response_model=VisitOut,
    summary="Verify and attach the recording PUT to the upload URL (staff)",
    description="Checks the object exists, its size and its type by content (413/415, and "
    "the object is deleted); 409 when nothing was uploaded.",
    responses=problem_responses(401, 403, 404, 409, 413, 415, 422, 429, 503),
)
async def complete_audio(
    visit_id: UUID, principal: CurrentPrincipal, visits: VisitsDep, meta: MetaDep
) -> VisitOut:
    return visit_out(await visits.complete_audio(principal, visit_id, meta))


@audited(AuditAction.VISIT_AUDIO_READ)
@_signed_read(
    "/visits/{visit_id}/audio", "The recording: a redirect to a short-lived URL (in scope)"
)
async def get_audio(
    visit_id: UUID, principal: CurrentPrincipal, visits: VisitsDep, meta: MetaDep
) -> RedirectResponse:
    return _redirect(await visits.audio_url(principal, visit_id, meta))


@audited(AuditAction.VISIT_SUMMARY_REQUEST)
@router.post(
    "/visits/{visit_id}/summary",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=VisitOut,
    summary="Summarise the visit's transcript (staff; queued)",
    description="The visit moves to `processing`; the worker writes a draft summary with "
    "its provenance on the visit and moves it to `processed` (or `failed`).",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def request_summary(
    visit_id: UUID, principal: CurrentPrincipal, summaries: SummariesDep, meta: MetaDep
) -> VisitOut:
    return visit_out(await summaries.request(principal, visit_id, meta))


@audited(AuditAction.VISIT_TRANSCRIPTION_REQUEST)
@router.post(
    "/visits/{visit_id}/transcription",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=VisitOut,
    summary="Transcribe the visit's recording (staff; queued)",
    description="`transcription_status` becomes `pending`; the worker writes "
    "`transcript_text` (with `transcript_source` and the `transcription` provenance), then "
    "queues the summary draft. Already queued: 202, nothing new. 409 when the transcript "
    "is the client's (`transcript-supplied`), the recording was transcribed already "
    "(`transcription-done`) or no speech-to-text service is configured "
    "(`transcription-not-configured`); 422 without a recording.",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def request_transcription(
    visit_id: UUID,
    principal: CurrentPrincipal,
    transcription: TranscriptionDep,
    meta: MetaDep,
) -> VisitOut:
    return visit_out(await transcription.request(principal, visit_id, meta))


@audited(AuditAction.VISIT_SUMMARY_ACCEPT)
@router.post(
    "/visits/{visit_id}/summary/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordOut,
    summary="Accept the summary draft as a new medical record (VET of the practice)",
    description="The record is authored by the accepting vet; the draft's provenance is "
    "kept in its `data.ai_summary`. It never overwrites an existing record: accepting "
    "twice is 409.",
    responses=problem_responses(400, 401, 403, 404, 409, 422, 429),
)
async def accept_summary(
    visit_id: UUID,
    response: Response,
    principal: CurrentPrincipal,
    records: RecordsDep,
    summaries: SummariesDep,
    meta: MetaDep,
    body: SummaryAcceptIn | None = None,
) -> RecordOut:
    acceptance = SummaryAcceptance(**(body.model_dump(exclude_none=True) if body else {}))
    record = await summaries.accept(principal, visit_id, acceptance, meta)
    response.headers["Location"] = f"/api/v1/medical-records/{record.id}"
    response.headers["ETag"] = etag(record.version)
    return record_out(records.view(record))


@audited(AuditAction.ATTACHMENT_CREATE)
@router.post(
    "/medical-records/{record_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentOut,
    summary="Attach a file to a medical record (as for PATCH)",
    description="multipart/form-data: `file` (PDF, PNG, JPEG... judged by content) and an "
    "optional `description`. The file name is kept as sanitized metadata only.",
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422, 429, 503),
    openapi_extra=multipart_openapi() | upload_limit(UploadKind.RECORD_ATTACHMENT),
)
async def add_attachment(
    record_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    visits: VisitsDep,
    upload_limits: UploadLimitsDep,
    meta: MetaDep,
) -> AttachmentOut:
    form = StreamingForm(
        request, max_file_bytes=upload_limits.for_kind(UploadKind.RECORD_ATTACHMENT)
    )
    incoming: list[IncomingFile] = []

    async def file_chunks() -> AsyncIterator[bytes]:
        found = await form.file()
        if found is None:
            raise RuleViolation(
                "The form has no 'file' part.", rule="upload.file_required", field="file"
            )
        incoming.append(found)
        async for chunk in found.chunks:
            yield chunk
        await form.fields()  # the rest of the form (a description after the file)

    def description() -> str | None:
        values = form.fields_so_far().get("description")
        return values[0] if values else None

    upload = AttachmentUpload(
        file_chunks(), lambda: incoming[0].filename if incoming else None, description
    )
    attachment = await visits.add_attachment(principal, record_id, upload, meta)
    return attachment_out(attachment)


@audited(AuditAction.ATTACHMENT_LIST)
@router.get(
    "/medical-records/{record_id}/attachments",
    response_model=ListResponse[AttachmentOut],
    summary="A record's attachments (in scope)",
    responses=problem_responses(401, 403, 404, 429),
)
async def list_attachments(
    record_id: UUID, principal: CurrentPrincipal, visits: VisitsDep, meta: MetaDep
) -> ListResponse[AttachmentOut]:
    found = await visits.attachments(principal, record_id, meta)
    return ListResponse[AttachmentOut](items=[attachment_out(a) for a in found], next_cursor=None)


@audited(AuditAction.ATTACHMENT_READ)
@_signed_read(
    "/attachments/{attachment_id}/content",
    "An attachment's bytes: a redirect to a short-lived URL (in scope)",
)
async def attachment_content(
    attachment_id: UUID, principal: CurrentPrincipal, visits: VisitsDep, meta: MetaDep
) -> RedirectResponse:
    return _redirect(await visits.attachment_url(principal, attachment_id, meta))


@audited(AuditAction.PET_TIMELINE)
@router.get(
    "/pets/{pet_id}/timeline",
    response_model=ListResponse[TimelineItemOut],
    summary="The pet's history: records, appointments and visits, newest day first",
    description="One cursor over all three; days in the practice's timezone. Staff see "
    "their own practice's appointments; the owner sees all of theirs.",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def pet_timeline(
    pet_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    records: RecordsDep,
    visits: VisitsDep,
    meta: MetaDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[TimelineItemOut]:
    pager = Paginator(request, "timeline", {"pet_id": pet_id}, (date.fromisoformat, UUID))
    page = await visits.timeline(principal, pet_id, pager.page_request(cursor, limit), meta)
    return pager.answer(
        ListResponse[TimelineItemOut],
        page,
        lambda entry: timeline_item_out(entry, lambda r: record_out(records.view(r))),
    )
