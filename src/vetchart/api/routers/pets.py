"""/api/v1/pets."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from vetchart.api.dependencies import PetsDep
from vetchart.api.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Paginator
from vetchart.api.presenters import json_response, pet_item, pet_with_owner
from vetchart.api.route_audit import audited
from vetchart.api.schemas.clients import (
    PetCreateIn,
    PetOut,
    PetUpdateIn,
    PetWithOwnerOut,
)
from vetchart.api.schemas.common import ListResponse, problem_responses
from vetchart.api.security import CurrentPrincipal, MetaDep
from vetchart.api.versioning import IfMatchHeader, etag, parse_if_match
from vetchart.domain.audit_actions import AuditAction
from vetchart.domain.pets import NewPet, PetChanges
from vetchart.services.ports.clients import PetFilters

router = APIRouter(prefix="/pets", tags=["pets"])


@audited(AuditAction.PET_CREATE)
@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PetWithOwnerOut,
    summary="Register a pet (staff for owners in scope; PET_OWNER for themselves)",
    description="A microchip id already used by another pet is 409. Returns `ETag`.",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
async def create_pet(
    body: PetCreateIn,
    response: Response,
    principal: CurrentPrincipal,
    pets: PetsDep,
    meta: MetaDep,
) -> PetWithOwnerOut:
    values = body.model_dump(exclude_unset=True)
    owner_id = values.pop("owner_id")
    view = await pets.create(principal, owner_id, NewPet(**values), meta)
    response.headers["ETag"] = etag(view.pet.version)
    response.headers["Location"] = f"/api/v1/pets/{view.pet.id}"
    return pet_with_owner(view)


@audited(AuditAction.PET_LIST)
@router.get(
    "",
    response_model=ListResponse[PetWithOwnerOut],
    summary="Pets in scope",
    description="Filters: `owner_id`, `species`, `q` (name), `include_inactive`. Ordered by "
    "name, then id.",
    responses=problem_responses(400, 401, 403, 422, 429),
)
async def list_pets(
    request: Request,
    response: Response,
    principal: CurrentPrincipal,
    pets: PetsDep,
    meta: MetaDep,
    owner_id: UUID | None = None,
    species: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    include_inactive: bool = False,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Response:
    filters = PetFilters(owner_id=owner_id, species=species, q=q, include_inactive=include_inactive)
    pager = Paginator(request, "pets", vars(filters), (str, UUID))
    page = await pets.list(principal, filters, pager.page_request(cursor, limit), meta)
    return pager.answer_rows(page, pet_item, response)


@audited(AuditAction.PET_READ)
@router.get(
    "/{pet_id}",
    response_model=PetWithOwnerOut,
    summary="One pet, with its owner (in scope; otherwise 404)",
    responses=problem_responses(401, 403, 404, 429),
)
async def get_pet(
    pet_id: UUID,
    response: Response,
    principal: CurrentPrincipal,
    pets: PetsDep,
    meta: MetaDep,
) -> Response:
    row = await pets.get(principal, pet_id, meta)
    return json_response(pet_item(row), response, headers={"ETag": etag(row["version"])})


@audited(AuditAction.PET_UPDATE)
@router.patch(
    "/{pet_id}",
    response_model=PetOut,
    summary="Update a pet (If-Match required)",
    description="Send only the fields to change, with `If-Match` set to the pet's ETag: "
    "missing 428, stale 412. No actual change: 200 and no new version.",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428, 429),
)
async def update_pet(
    pet_id: UUID,
    body: PetUpdateIn,
    response: Response,
    principal: CurrentPrincipal,
    pets: PetsDep,
    meta: MetaDep,
    if_match: IfMatchHeader = None,
) -> PetOut:
    pet = await pets.update(
        principal,
        pet_id,
        PetChanges(**body.model_dump(exclude_unset=True)),
        parse_if_match(if_match),
        meta,
    )
    response.headers["ETag"] = etag(pet.version)
    return PetOut.model_validate(pet)


def _activation_route(name: str, active: bool) -> None:
    @audited(AuditAction.PET_REACTIVATE if active else AuditAction.PET_DEACTIVATE)
    async def set_active(
        pet_id: UUID,
        response: Response,
        principal: CurrentPrincipal,
        pets: PetsDep,
        meta: MetaDep,
    ) -> PetOut:
        pet = await pets.set_active(principal, pet_id, active, meta)
        response.headers["ETag"] = etag(pet.version)
        return PetOut.model_validate(pet)

    router.add_api_route(
        f"/{{pet_id}}/{name}",
        set_active,
        methods=["POST"],
        response_model=PetOut,
        name=f"pet_{name}",
        summary=f"{name.capitalize()} a pet (staff in scope, the owner); pets are never deleted",
        responses=problem_responses(401, 403, 404, 429),
    )


_activation_route("deactivate", active=False)
_activation_route("reactivate", active=True)
