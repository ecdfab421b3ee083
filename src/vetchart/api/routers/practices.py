"""/api/v1/practices: the directory, practice administration, staff, invitations."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, status

from vetchart.api.dependencies import InvitationsDep, OwnersDep, PracticesDep
from vetchart.api.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    Paginator,
    parse_datetime,
)
from vetchart.api.presenters import (
    association_out,
    invitation_out,
    invitation_state_out,
    practice_out,
)
from vetchart.api.route_audit import audited
from vetchart.api.schemas.clients import (
    AssociationOut,
    InvitationIn,
    InvitationOut,
    PracticeCreateIn,
    PracticeDirectoryOut,
    PracticeOut,
    PracticeUpdateIn,
)
from vetchart.api.schemas.common import ListResponse, problem_responses
from vetchart.api.schemas.lifecycle import InvitationFilter, InvitationStateOut
from vetchart.api.schemas.users import StaffOut
from vetchart.api.security import PERSON_ONLY, CurrentPrincipal, MetaDep
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.owners import AssociationStatus
from vetchart.domain.practices import NewPractice, PracticeChanges

router = APIRouter(prefix="/practices", tags=["practices"])


@audited(AuditAction.PRACTICE_CREATE)
@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PracticeOut,
    summary="Create a practice (SYSTEM_ADMIN)",
    responses=problem_responses(401, 403, 409, 422, 429),
)
async def create_practice(
    body: PracticeCreateIn, principal: CurrentPrincipal, practices: PracticesDep, meta: MetaDep
) -> PracticeOut:
    practice = await practices.create(principal, NewPractice(**body.model_dump()), meta)
    return PracticeOut.model_validate(practice)


@audited(AuditAction.PRACTICE_LIST)
@router.get(
    "",
    response_model=ListResponse[PracticeOut | PracticeDirectoryOut],
    summary="The directory of active practices",
    description="Ordered by name, then id. Staff of a practice (and SYSTEM_ADMIN) see every "
    "field of it; everyone else sees the directory fields.",
    responses=problem_responses(400, 401, 403, 422, 429),
)
async def list_practices(
    request: Request,
    principal: CurrentPrincipal,
    practices: PracticesDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[PracticeOut | PracticeDirectoryOut]:
    pager = Paginator(request, "practices", {}, (str, UUID))
    page = await practices.list(principal, pager.page_request(cursor, limit))
    return pager.answer(
        ListResponse[PracticeOut | PracticeDirectoryOut], page, lambda p: practice_out(principal, p)
    )


@audited(AuditAction.PRACTICE_READ)
@router.get(
    "/{practice_id}",
    response_model=PracticeOut | PracticeDirectoryOut,
    summary="One practice",
    responses=problem_responses(401, 403, 404, 429),
)
async def get_practice(
    practice_id: UUID, principal: CurrentPrincipal, practices: PracticesDep
) -> PracticeOut | PracticeDirectoryOut:
    return practice_out(principal, await practices.get(principal, practice_id))


@audited(AuditAction.PRACTICE_UPDATE)
@router.patch(
    "/{practice_id}",
    response_model=PracticeOut,
    summary="Update a practice (its PRACTICE_ADMIN, SYSTEM_ADMIN)",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def update_practice(
    practice_id: UUID,
    body: PracticeUpdateIn,
    principal: CurrentPrincipal,
    practices: PracticesDep,
    meta: MetaDep,
) -> PracticeOut:
    changes = PracticeChanges(**body.model_dump(exclude_unset=True))
    practice = await practices.update(principal, practice_id, changes, meta)
    return PracticeOut.model_validate(practice)


@audited(AuditAction.PRACTICE_DEACTIVATE)
@router.post(
    "/{practice_id}/deactivate",
    response_model=PracticeOut,
    summary="Deactivate a practice (SYSTEM_ADMIN); practices are never deleted",
    responses=problem_responses(401, 403, 404, 429),
)
async def deactivate_practice(
    practice_id: UUID, principal: CurrentPrincipal, practices: PracticesDep, meta: MetaDep
) -> PracticeOut:
    practice = await practices.deactivate(principal, practice_id, meta)
    return PracticeOut.model_validate(practice)


@audited(AuditAction.PRACTICE_STAFF_LIST)
@router.get(
    "/{practice_id}/staff",
    response_model=ListResponse[StaffOut],
    summary="The practice's active staff (its staff, SYSTEM_ADMIN)",
    description="Ordered by full_name, then id.",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def list_staff(
    practice_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    practices: PracticesDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[StaffOut]:
    pager = Paginator(request, "staff", {"practice_id": practice_id}, (str, UUID))
    page = await practices.staff(principal, practice_id, pager.page_request(cursor, limit))
    return pager.answer(ListResponse[StaffOut], page, StaffOut.model_validate)


@audited(AuditAction.INVITATION_CREATE)
@router.post(
    "/{practice_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationOut,
    summary="Invite a staff member (its PRACTICE_ADMIN, SYSTEM_ADMIN)",
    dependencies=[PERSON_ONLY],
    description="A single-use token valid 7 days, also handed to the mail port.",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def invite(
    practice_id: UUID,
    body: InvitationIn,
    principal: CurrentPrincipal,
    practices: PracticesDep,
    meta: MetaDep,
) -> InvitationOut:
    issued = await practices.invite(
        principal, practice_id, email=body.email, role=body.role, meta=meta
    )
    return invitation_out(issued)


@audited(AuditAction.PRACTICE_ASSOCIATION_LIST)
@router.get(
    "/{practice_id}/associations",
    response_model=ListResponse[AssociationOut],
    summary="The practice's client associations (its staff, SYSTEM_ADMIN)",
    description="Newest first (created_at, then id). The practice's staff do not see the "
    "requests their practice made that await the owner's consent (`awaiting: owner`) or "
    "that the owner rejected; SYSTEM_ADMIN sees every one.",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def practice_associations(
    practice_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    owners: OwnersDep,
    status_filter: Annotated[AssociationStatus | None, Query(alias="status")] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[AssociationOut]:
    filters = {"practice_id": practice_id, "status": status_filter}
    pager = Paginator(request, "practice-associations", filters, (parse_datetime, UUID))
    page = await owners.practice_associations(
        principal, practice_id, status_filter, pager.page_request(cursor, limit)
    )
    return pager.answer(ListResponse[AssociationOut], page, association_out)


@audited(AuditAction.INVITATION_LIST)
@router.get(
    "/{practice_id}/invitations",
    response_model=ListResponse[InvitationStateOut],
    summary="The practice's staff invitations (its PRACTICE_ADMIN, SYSTEM_ADMIN)",
    dependencies=[PERSON_ONLY],
    description="Newest first (created_at, then id). `status` filters by state: `pending` "
    "(the default), `accepted`, `revoked`, `expired`, or `all`. Tokens are never shown "
    "(only a digest is stored): a lost one is replaced by revoking the invitation and "
    "inviting again.",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def list_invitations(
    practice_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    invitations: InvitationsDep,
    status_filter: Annotated[InvitationFilter, Query(alias="status")] = InvitationFilter.PENDING,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[InvitationStateOut]:
    filters = {"practice_id": practice_id, "status": status_filter.value}
    pager = Paginator(request, "practice-invitations", filters, (parse_datetime, UUID))
    page = await invitations.list(
        principal, practice_id, status_filter.state, pager.page_request(cursor, limit)
    )
    return pager.answer(
        ListResponse[InvitationStateOut],
        page,
        lambda item: invitation_state_out(item, invitations.status(item)),
    )
