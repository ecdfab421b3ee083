"""/api/v1/pet-owners and /api/v1/associations."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from vetchart.api.dependencies import OwnersDep
from vetchart.api.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    Paginator,
    parse_datetime,
)
from vetchart.api.presenters import association_out, json_response, owner_item
from vetchart.api.route_audit import audited
from vetchart.api.schemas.clients import (
    AssociationIn,
    AssociationOut,
    PetOwnerCreateIn,
    PetOwnerOut,
    PetOwnerUpdateIn,
)
from vetchart.api.schemas.common import ListResponse, problem_responses
from vetchart.api.security import CurrentPrincipal, MetaDep
from vetchart.domain.audit_actions import ASSOCIATION_STEPS, AuditAction
from vetchart.domain.owners import NewAssociation, NewOwner, OwnerChanges

router = APIRouter(tags=["pet owners"])


@audited(AuditAction.PET_OWNER_CREATE)
@router.post(
    "/pet-owners",
    status_code=status.HTTP_201_CREATED,
    response_model=PetOwnerOut,
    summary="Create a pet owner",
    description="Staff: a client of their own practice (the association is approved at "
    "once, and the owner is recorded as this practice's: its staff may link the owner again "
    "later without asking). PET_OWNER: their own profile, once, linked to their account "
    "(409 the second time).",
    responses=problem_responses(401, 403, 409, 422, 429),
)
async def create_owner(
    body: PetOwnerCreateIn, principal: CurrentPrincipal, owners: OwnersDep, meta: MetaDep
) -> PetOwnerOut:
    owner = await owners.create(principal, NewOwner(**body.model_dump(exclude_unset=True)), meta)
    return PetOwnerOut.model_validate(owner)


@audited(AuditAction.PET_OWNER_LIST)
@router.get(
    "/pet-owners",
    response_model=ListResponse[PetOwnerOut],
    summary="Pet owners in scope",
    description="Staff: owners with an approved association with their practice; PET_OWNER: "
    "their own profile. Filter `q` searches name, email and phone. Ordered by full_name, id.",
    responses=problem_responses(400, 401, 403, 422, 429),
)
async def list_owners(
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    owners: OwnersDep,
    meta: MetaDep,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    pager = Paginator(request, "pet-owners", {"q": q}, (str, UUID))
    page = await owners.list(principal, q, pager.page_request(cursor, limit), meta)
    return pager.answer_rows(page, owner_item, response)


@audited(AuditAction.PET_OWNER_READ)
@router.get(
    "/pet-owners/{owner_id}",
    response_model=PetOwnerOut,
    summary="One pet owner (in scope; otherwise 404)",
    responses=problem_responses(401, 403, 404, 429),
)
async def get_owner(
    owner_id: UUID,
    response: Response,
    principal: CurrentPrincipal,
    owners: OwnersDep,
    meta: MetaDep,
) -> Response:
    return json_response(owner_item(await owners.get(principal, owner_id, meta)), response)


@audited(AuditAction.PET_OWNER_UPDATE)
@router.patch(
    "/pet-owners/{owner_id}",
    response_model=PetOwnerOut,
    summary="Update a pet owner (in scope)",
    responses=problem_responses(401, 403, 404, 422, 429),
)
async def update_owner(
    owner_id: UUID,
    body: PetOwnerUpdateIn,
    principal: CurrentPrincipal,
    owners: OwnersDep,
    meta: MetaDep,
) -> PetOwnerOut:
    owner = await owners.update(
        principal, owner_id, OwnerChanges(**body.model_dump(exclude_unset=True)), meta
    )
    return PetOwnerOut.model_validate(owner)


@audited(AuditAction.OWNER_ASSOCIATION_LIST)
@router.get(
    "/pet-owners/{owner_id}/associations",
    response_model=ListResponse[AssociationOut],
    summary="An owner's practice associations (in scope)",
    description="The owner sees all of theirs, including the `pending` requests that await "
    "their consent (`awaiting: owner`; answer them with `/associations/{id}/approve` or "
    "`/reject`). Staff see the owner's associations with their own practice, except those "
    "awaiting or refused by the owner's consent. Newest first.",
    responses=problem_responses(400, 401, 403, 404, 422, 429),
)
async def owner_associations(
    owner_id: UUID,
    request: Request,
    principal: CurrentPrincipal,
    owners: OwnersDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ListResponse[AssociationOut]:
    pager = Paginator(request, "owner-associations", {"owner_id": owner_id}, (parse_datetime, UUID))
    page = await owners.owner_associations(principal, owner_id, pager.page_request(cursor, limit))
    return pager.answer(ListResponse[AssociationOut], page, association_out)


@audited(AuditAction.ASSOCIATION_CREATE)
@router.post(
    "/associations",
    status_code=status.HTTP_201_CREATED,
    response_model=AssociationOut,
    summary="Ask for an association with a practice (PET_OWNER for themselves, staff for "
    "their own practice)",
    description="A PET_OWNER asks for themselves: `pending` (`awaiting: practice`) until the "
    "practice's PRACTICE_ADMIN or VET approves or rejects it.\n\n"
    "Staff (VET_STAFF, VET, PRACTICE_ADMIN) for their own practice: `approved` at once only "
    "for an owner this practice created (`POST /pet-owners`). For any other owner the "
    "answer is `pending` (`awaiting: owner`): only the owner, through their own PET_OWNER "
    "account, can approve or reject it, and until they approve it the practice does not "
    "see it (not in its list; approve, reject and deactivate answer 404) nor the owner. "
    "An owner id that does not exist gets the very same answer (201, `pending`; nothing is "
    "stored), so this endpoint does not tell which owners exist.\n\n"
    "One open (pending or approved) association per owner and practice: 409 when one the "
    "practice can see is open already.",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def create_association(
    body: AssociationIn, principal: CurrentPrincipal, owners: OwnersDep, meta: MetaDep
) -> AssociationOut:
    asked = NewAssociation(**body.model_dump())
    association = await owners.request_association(principal, asked, meta)
    return AssociationOut.model_validate(association)


_DECISION_SUMMARIES = {
    "approve": "Approve an association (the practice's PRACTICE_ADMIN or VET for an owner's "
    "request; the owner for a practice's request)",
    "reject": "Reject an association (the practice's PRACTICE_ADMIN or VET for an owner's "
    "request; the owner for a practice's request)",
    "deactivate": "Deactivate an approved association (PRACTICE_ADMIN, VET of its practice)",
}


def _decision_route(decision: str) -> None:
    @audited(ASSOCIATION_STEPS[decision])
    async def decide(
        association_id: UUID, principal: CurrentPrincipal, owners: OwnersDep, meta: MetaDep
    ) -> AssociationOut:
        association = await owners.decide(principal, association_id, decision, meta)
        return AssociationOut.model_validate(association)

    router.add_api_route(
        f"/associations/{{association_id}}/{decision}",
        decide,
        methods=["POST"],
        response_model=AssociationOut,
        name=f"association_{decision}",
        summary=_DECISION_SUMMARIES[decision],
        description="Only the workflow's edges: pending → approved | rejected; approved → "
        "inactive. Anything else is 409.\n\n"
        "A pending association asked for by its owner (`awaiting: practice`) is approved or "
        "rejected by the practice's PRACTICE_ADMIN or VET (the owner: 403). One asked for by "
        "a practice (`awaiting: owner`) is approved or rejected by that owner only, through "
        "their PET_OWNER account; for the practice's staff it does not exist (404) until the "
        "owner approves it, and stays out of their sight if the owner rejects it. "
        "Deactivating an approved association is the practice's (PRACTICE_ADMIN, VET).",
        responses=problem_responses(401, 403, 404, 409, 429),
    )


for _decision in ("approve", "reject", "deactivate"):
    _decision_route(_decision)
