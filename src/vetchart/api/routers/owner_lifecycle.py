"""/api/v1/pet-owners/{owner_id}/deactivate, /reactivate, /export and /erase: an owner's
lifecycle (docs/owner-lifecycle.md)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from vetchart.api.dependencies import ClockDep, OwnerLifecycleDep
from vetchart.api.route_audit import audited
from vetchart.api.schemas.clients import PetOwnerOut
from vetchart.api.schemas.common import problem_responses
from vetchart.api.schemas.lifecycle import OwnerExportOut
from vetchart.api.security import CurrentPrincipal, MetaDep
from vetchart.domain.audit_actions import AuditAction

router = APIRouter(tags=["pet owners"])

_WHO_DEACTIVATES = (
    "SYSTEM_ADMIN (any owner); the PRACTICE_ADMIN of the practice that created the owner "
    "(`POST /pet-owners`), while the owner is its client. Anyone else who sees the owner: "
    "403; out of scope: 404."
)


def _activation_route(
    name: str, active: bool, summary: str, description: str, statuses: tuple[int, ...]
) -> None:
    """``POST /pet-owners/{owner_id}/deactivate`` or ``/reactivate``: one handler, told
    which way to set ``is_active``."""

    @audited(AuditAction.PET_OWNER_REACTIVATE if active else AuditAction.PET_OWNER_DEACTIVATE)
    async def set_active(
        owner_id: UUID, principal: CurrentPrincipal, lifecycle: OwnerLifecycleDep, meta: MetaDep
    ) -> PetOwnerOut:
        owner = await lifecycle.set_active(principal, owner_id, active, meta)
        return PetOwnerOut.model_validate(owner)

    router.add_api_route(
        f"/pet-owners/{{owner_id}}/{name}",
        set_active,
        methods=["POST"],
        response_model=PetOwnerOut,
        name=f"{name}_owner",
        summary=summary,
        description=description + " " + _WHO_DEACTIVATES,
        responses=problem_responses(*statuses),
    )


_activation_route(
    "deactivate",
    active=False,
    summary="Deactivate a pet owner (soft)",
    description="The owner stays readable (`is_active: false`), with their pets and records; "
    "new pets, associations and appointments for them are refused (409 `owner-inactive`). "
    "The linked account (if any) is not touched. Deactivating an inactive owner changes "
    "nothing (200).",
    statuses=(401, 403, 404, 429),
)
_activation_route(
    "reactivate",
    active=True,
    summary="Reactivate a pet owner",
    description="An erased owner is never reactivated (409 `owner-erased`).",
    statuses=(401, 403, 404, 409, 429),
)


@audited(AuditAction.PET_OWNER_EXPORT)
@router.get(
    "/pet-owners/{owner_id}/export",
    response_model=OwnerExportOut,
    summary="Everything about a pet owner and their pets, as JSON (GDPR access)",
    description="The owner themselves (PET_OWNER, their own profile) and SYSTEM_ADMIN get "
    "everything (`view: full`): the profile, pets, every association, appointment, visit, "
    "medical record with its full history, attachment (metadata), and the audit rows about "
    "the owner or their pets. A PRACTICE_ADMIN of a practice the owner is a client of gets "
    "that practice's view (`view: practice`): its associations and appointments only, the "
    "pets, visits and records its staff may read, no audit rows. Other staff: 403; out of "
    "scope: 404. Audited as a read of medical data (`pet_owner.export`).",
    responses=problem_responses(401, 403, 404, 429),
)
async def export_owner(
    owner_id: UUID,
    principal: CurrentPrincipal,
    lifecycle: OwnerLifecycleDep,
    meta: MetaDep,
    clock: ClockDep,
) -> OwnerExportOut:
    found = await lifecycle.export(principal, owner_id, meta)
    return OwnerExportOut(
        exported_at=clock.now(),
        view="full" if principal.practice_id is None else "practice",
        owner=found.owner,
        pets=found.pets,
        associations=found.associations,
        appointments=found.appointments,
        visits=found.visits,
        medical_records=found.medical_records,
        attachments=found.attachments,
        audit_events=found.audit_events,
    )


@audited(AuditAction.PET_OWNER_ERASE)
@router.post(
    "/pet-owners/{owner_id}/erase",
    response_model=PetOwnerOut,
    summary="Erase a pet owner's personal data; keep the medical records, pseudonymised",
    description="The owner's name becomes a pseudonym, their contact fields are cleared, "
    "their pets lose name, microchip and notes (clinical facts stay), their account (if "
    "any) is pseudonymised and deactivated and its sessions revoked, their pending "
    "associations are rejected. Medical records, their history and the audit trail are "
    "kept unchanged (legal documents; append-only), linked to the pseudonymised pet and "
    "owner. Idempotent: erasing an erased owner answers 200 and changes nothing.\n\n"
    "Who: SYSTEM_ADMIN (any owner); a PRACTICE_ADMIN only for a client their practice "
    "created, with no account of their own and no open association with another practice "
    "(else 403: ask a platform administrator). Out of scope: 404.",
    responses=problem_responses(401, 403, 404, 429),
)
async def erase_owner(
    owner_id: UUID, principal: CurrentPrincipal, lifecycle: OwnerLifecycleDep, meta: MetaDep
) -> PetOwnerOut:
    owner = await lifecycle.erase(principal, owner_id, meta)
    return PetOwnerOut.model_validate(owner)
