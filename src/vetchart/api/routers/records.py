"""Medical records: /api/v1/pets/{pet_id}/medical-records, /api/v1/medical-records/...,
/api/v1/practices/{practice_id}/follow-ups."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response, status

from vetchart.api.dependencies import ClockDep, RecordsDep
from vetchart.api.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Paginator
from vetchart.api.presenters import (
    history_item,
    history_out,
    json_response,
    record_item,
    record_out,
)
from vetchart.api.route_audit import audited
from vetchart.api.schemas.bounded import BoundedAwareDatetime, BoundedDate
from vetchart.api.schemas.common import ListResponse, problem_responses
from vetchart.api.schemas.records import (
    EnteredInErrorIn,
    HistoryEntryOut,
    HistoryOut,
    RecordCreateIn,
    RecordOut,
    RecordUpdateIn,
)
from vetchart.api.security import CurrentPrincipal, MetaDep
from vetchart.api.versioning import IfMatchHeader, etag, parse_if_match
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.records import RecordChanges, RecordContent, RecordType
from vetchart.services.ports.records import RecordFilters
from vetchart.services.records import RecordView

router = APIRouter(tags=["medical records"])

_RULES = problem_responses(401, 403, 404, 409, 412, 422, 428, 429)


def _with_etag(response: Response, view: RecordView) -> RecordOut:
    response.headers["ETag"] = etag(view.record.version)
    return record_out(view)


@audited(AuditAction.MEDICAL_RECORD_CREATE)
@router.post(
    "/pets/{pet_id}/medical-records",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordOut,
    summary="Create a medical record (staff of a practice the pet is associated with)",
    description="Business rules answer 422 naming the rule and field. Returns `Location` and "
    '`ETag: "1"`. Accepts `Idempotency-Key`.',
    responses=_RULES,
)
async def create_record(
    pet_id: UUID,
    body: RecordCreateIn,
    response: Response,
    principal: CurrentPrincipal,
    records: RecordsDep,
    meta: MetaDep,
) -> RecordOut:
    view = await records.create(principal, pet_id, RecordContent(**body.model_dump()), meta)
    response.headers["Location"] = f"/api/v1/medical-records/{view.record.id}"
    return _with_etag(response, view)


@audited(AuditAction.MEDICAL_RECORD_LIST)
@router.get(
    "/pets/{pet_id}/medical-records",
    response_model=ListResponse[RecordOut],
    summary="A pet's records (current versions)",
    description="Newest visit first (visit_date, then id, descending). Records entered in "
    "error are left out unless include_entered_in_error=true.",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def list_records(
    pet_id: UUID,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    records: RecordsDep,
    meta: MetaDep,
    record_type: RecordType | None = None,
    visit_from: Annotated[BoundedDate | None, Query(alias="from")] = None,
    visit_to: Annotated[BoundedDate | None, Query(alias="to")] = None,
    include_entered_in_error: bool = False,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    filters = RecordFilters(record_type, visit_from, visit_to, include_entered_in_error)
    pager = Paginator(
        request, "pet-records", {"pet_id": pet_id, **vars(filters)}, (date.fromisoformat, UUID)
    )
    page = await records.list_for_pet(
        principal, pet_id, filters, pager.page_request(cursor, limit), meta
    )
    return pager.answer_rows(page, record_item, response)


@audited(AuditAction.MEDICAL_RECORD_READ)
@router.get(
    "/medical-records/{record_id}",
    response_model=RecordOut,
    summary="A record: the current version, or as it stood at `as_of`",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def get_record(
    record_id: UUID,
    response: Response,
    principal: CurrentPrincipal,
    records: RecordsDep,
    meta: MetaDep,
    as_of: Annotated[
        BoundedAwareDatetime | None,
        Query(
            description="An RFC 3339 time with its offset (a time without one is 422); "
            "404 when the record did not exist yet."
        ),
    ] = None,
) -> RecordOut | Response:
    if as_of is None:
        row = await records.get_current(principal, record_id, meta)
        return json_response(record_item(row), response, headers={"ETag": etag(row["version"])})
    view = await records.get(principal, record_id, meta, as_of=as_of)
    return _with_etag(response, view)


@audited(AuditAction.MEDICAL_RECORD_AMEND)
@router.patch(
    "/medical-records/{record_id}",
    response_model=RecordOut,
    summary="Amend a record (a new version; If-Match required)",
    description="The author, or a VET / PRACTICE_ADMIN of the authoring practice. Send only "
    "the fields to change. No actual change: 200 and no new version. After finalisation an "
    "`amendment_reason` is required (422 otherwise) and the version is a late amendment.",
    responses=_RULES,
)
async def amend_record(
    record_id: UUID,
    body: RecordUpdateIn,
    response: Response,
    principal: CurrentPrincipal,
    records: RecordsDep,
    meta: MetaDep,
    if_match: IfMatchHeader = None,
) -> RecordOut:
    changes = RecordChanges(**body.model_dump(exclude_unset=True))
    view, _ = await records.amend(
        principal,
        record_id,
        changes,
        if_match=parse_if_match(if_match),
        meta=meta,
    )
    return _with_etag(response, view)


@audited(AuditAction.MEDICAL_RECORD_READ)
@router.get(
    "/medical-records/{record_id}/history",
    response_model=HistoryOut,
    summary="The record's versions, oldest first (paginated)",
    description="Each with its version, time, actor, reason, changed fields and full snapshot. "
    "Ordered by version; `limit` and `cursor` as for every list.",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def record_history(
    record_id: UUID,
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    records: RecordsDep,
    meta: MetaDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    pager = Paginator(request, "record-history", {"record_id": record_id}, (int,))
    page = await records.history(principal, record_id, pager.page_request(cursor, limit), meta)
    return pager.answer_rows(page, history_item, response)


@audited(AuditAction.MEDICAL_RECORD_READ)
@router.get(
    "/medical-records/{record_id}/versions/{version}",
    response_model=HistoryEntryOut,
    summary="One past version",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def record_version(
    record_id: UUID,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    principal: CurrentPrincipal,
    records: RecordsDep,
    meta: MetaDep,
) -> HistoryEntryOut:
    return history_out(await records.version(principal, record_id, version, meta))


@audited(AuditAction.MEDICAL_RECORD_ENTERED_IN_ERROR)
@router.post(
    "/medical-records/{record_id}/entered-in-error",
    response_model=RecordOut,
    summary="Mark a record as entered in error (If-Match required)",
    description="It leaves the normal lists but stays in history. Records are never deleted.",
    responses=_RULES,
)
async def entered_in_error(
    record_id: UUID,
    body: EnteredInErrorIn,
    response: Response,
    principal: CurrentPrincipal,
    records: RecordsDep,
    meta: MetaDep,
    if_match: IfMatchHeader = None,
) -> RecordOut:
    view = await records.mark_entered_in_error(
        principal, record_id, reason=body.reason, if_match=parse_if_match(if_match), meta=meta
    )
    return _with_etag(response, view)


@audited(AuditAction.MEDICAL_RECORD_SIGN)
@router.post(
    "/medical-records/{record_id}/sign",
    response_model=RecordOut,
    summary="Sign (finalise) a record: a VET of the authoring practice (If-Match required)",
    responses=_RULES,
)
async def sign_record(
    record_id: UUID,
    response: Response,
    principal: CurrentPrincipal,
    records: RecordsDep,
    meta: MetaDep,
    if_match: IfMatchHeader = None,
) -> RecordOut:
    view = await records.sign(principal, record_id, if_match=parse_if_match(if_match), meta=meta)
    return _with_etag(response, view)


@audited(AuditAction.FOLLOW_UP_LIST)
@router.get(
    "/practices/{practice_id}/follow-ups",
    response_model=ListResponse[RecordOut],
    summary="Follow-ups due (its staff)",
    description="Active records whose follow-up date is on or before `due_before` (default: "
    "today), by follow-up date then id.",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def follow_ups(
    practice_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    records: RecordsDep,
    clock: ClockDep,
    meta: MetaDep,
    due_before: BoundedDate | None = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[RecordOut]:
    due = due_before or clock.now().date()
    pager = Paginator(
        request,
        "follow-ups",
        {"practice_id": practice_id, "due_before": due},
        (date.fromisoformat, UUID),
    )
    page = await records.follow_ups(
        principal, practice_id, due, pager.page_request(cursor, limit), meta
    )
    return pager.answer(ListResponse[RecordOut], page, lambda r: record_out(records.view(r)))
