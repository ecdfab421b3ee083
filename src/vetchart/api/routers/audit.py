"""The audit trail: admins' search and a pet's access log. Both reads are audited."""

from __future__ import annotations

from functools import partial
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request

from vetchart.api.dependencies import AuditDep
from vetchart.api.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    Paginator,
    parse_datetime,
)
from vetchart.api.route_audit import audited
from vetchart.api.schemas.audit import AccessLogEntryOut, AuditEventOut, OutcomeIn
from vetchart.api.schemas.bounded import BoundedAwareDatetime
from vetchart.api.schemas.common import ListResponse, problem_responses, response_from
from vetchart.api.security import CurrentPrincipal, MetaDep
from vetchart.domain.audit_actions import AuditAction
from vetchart.services.ports.audit import AuditFilters

router = APIRouter(tags=["audit"])

_Text = Annotated[str | None, Query(min_length=1, max_length=200)]


@audited(AuditAction.AUDIT_SEARCH)
@router.get(
    "/audit-events",
    response_model=ListResponse[AuditEventOut],
    summary="Search the audit log (SYSTEM_ADMIN: all; PRACTICE_ADMIN: own practice)",
    description="Newest first (occurred_at, then id). `from` is inclusive, `to` exclusive; "
    "both need an offset.",
    responses=problem_responses(400, 401, 403, 422, 429),
)
async def search_audit_events(
    request: Request,
    principal: CurrentPrincipal,
    audit: AuditDep,
    meta: MetaDep,
    actor_id: UUID | None = None,
    action: _Text = None,
    resource_type: _Text = None,
    resource_id: _Text = None,
    outcome: OutcomeIn | None = None,
    occurred_from: Annotated[BoundedAwareDatetime | None, Query(alias="from")] = None,
    occurred_to: Annotated[BoundedAwareDatetime | None, Query(alias="to")] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[AuditEventOut]:
    filters = AuditFilters(
        actor_id=actor_id,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        outcome=outcome.value if outcome else None,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )
    pager = Paginator(request, "audit-events", vars(filters), (parse_datetime, UUID))
    page = await audit.search(principal, filters, pager.page_request(cursor, limit), meta)
    return pager.answer(ListResponse[AuditEventOut], page, partial(response_from, AuditEventOut))


@audited(AuditAction.PET_ACCESS_LOG_READ)
@router.get(
    "/pets/{pet_id}/access-log",
    response_model=ListResponse[AccessLogEntryOut],
    summary="Who read or changed this pet's data, and when (its owner; staff in scope)",
    description="Newest first. Successful reads and changes of the pet and its medical "
    "records; refused attempts are in the practice's audit log.",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def pet_access_log(
    pet_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    audit: AuditDep,
    meta: MetaDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[AccessLogEntryOut]:
    pager = Paginator(request, "access-log", {"pet_id": pet_id}, (parse_datetime, UUID))
    page = await audit.access_log(principal, pet_id, pager.page_request(cursor, limit), meta)
    return pager.answer(ListResponse[AccessLogEntryOut], page, AccessLogEntryOut.model_validate)
